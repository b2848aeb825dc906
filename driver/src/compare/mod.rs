//! `nines compare`: results side by side, the first as the baseline, with the relative change of
//! throughput and every percentile. With `--repeat N` the results come in groups of N runs of
//! the same configuration: each group shows the median and the spread (min–max) of its runs,
//! and a difference is called beyond run-to-run noise only when a two-sided exact Mann–Whitney
//! U test over the runs gives p < 0.05 (with midranks for ties). Fewer than 4 runs a side can
//! never reach that, and the table says so rather than guessing. Results of a request mix are
//! also compared line by line, lined up by the lines' names.

mod flame;

use std::fmt::Write;

pub use flame::diff_svg;

use crate::report::flame::FlameGraph;
use crate::report::sweep::{Step, Sweep};
use crate::report::{LoadSummary, Report};

/// Significance level of the test.
pub const ALPHA: f64 = 0.05;

/// The figures compared, by name, with whether higher is better.
pub const METRICS: [(&str, bool); FIGURES] = [
    ("throughput req/s", true),
    ("p50 µs", false),
    ("p90 µs", false),
    ("p99 µs", false),
    ("p99.9 µs", false),
    ("p99.99 µs", false),
    ("max µs", false),
    ("errors", false),
    ("server CPU µs/reply", false),
    ("received MiB/s", true),
    ("driver lag p99 µs", false),
    ("storm connect p99 µs", false),
];

/// How many figures are compared.
pub const FIGURES: usize = 12;

/// One result's figures, in [`METRICS`] order. What only one load model measures (an open
/// loop's schedule lag, a storm's send lag and connect time) is compared where there is one.
pub fn figures(r: &Report) -> [Option<f64>; FIGURES] {
    let l = r.latency_us;
    let (lag, connect) = match &r.load {
        LoadSummary::OpenLoop(o) => (o.schedule_lag_us, None),
        LoadSummary::Storm(st) => (st.send_lag_us, st.connect_time_us),
        LoadSummary::ClosedLoop | LoadSummary::Mixed | LoadSummary::Unknown => (None, None),
    };
    [
        Some(r.throughput_rps),
        l.map(|l| l.p50),
        l.map(|l| l.p90),
        l.map(|l| l.p99),
        l.map(|l| l.p99_9),
        l.map(|l| l.p99_99),
        l.map(|l| l.max),
        Some(r.errors as f64),
        r.server_cpu
            .as_ref()
            .and_then(|c| c.per_reply_us(r.all_replies())),
        r.transfer
            .filter(|t| t.received_bytes > 0)
            .map(|t| t.received_bytes_per_s / (1024.0 * 1024.0)),
        lag.map(|l| l.p99),
        connect.map(|l| l.p99),
    ]
}

/// The figures compared for each line of a request mix, with whether higher is better.
pub const LINE_METRICS: [(&str, bool); 4] = [
    ("req/s", true),
    ("p50 µs", false),
    ("p99 µs", false),
    ("errors", false),
];

/// Each line of a result's request mix, by name, with its figures in [`LINE_METRICS`] order.
pub fn line_figures(r: &Report) -> Vec<(String, [Option<f64>; 4])> {
    r.by_request
        .iter()
        .map(|l| {
            let lat = l.latency_us;
            (
                l.name.clone(),
                [
                    Some(l.throughput_rps),
                    lat.map(|s| s.p50),
                    lat.map(|s| s.p99),
                    Some(l.errors as f64),
                ],
            )
        })
        .collect()
}

/// A group's name in the table, marked when one of its runs was cut short (its figures
/// cover only what it measured).
pub fn group_name(name: &str, runs: &[&Report]) -> String {
    if runs.iter().all(|r| r.completed()) {
        name.to_string()
    } else {
        format!("{name} (cut short)")
    }
}

/// One group of runs of the same configuration.
#[derive(Debug, Clone)]
pub struct Group {
    /// Its name (the first file's).
    pub name: String,
    /// Each run's figures.
    pub runs: Vec<[Option<f64>; FIGURES]>,
    /// Each run's mix lines' figures ([`line_figures`]).
    pub lines: Vec<Vec<(String, [Option<f64>; 4])>>,
    /// The runs' flame graphs combined, when every run has one.
    pub flame: Option<FlameGraph>,
}

impl Group {
    /// The group of `runs`, named `name` (marked when a run was cut short).
    pub fn of(name: &str, runs: &[&Report]) -> Group {
        Group {
            name: group_name(name, runs),
            runs: runs.iter().map(|r| figures(r)).collect(),
            lines: runs.iter().map(|r| line_figures(r)).collect(),
            flame: flame::group_flame(runs),
        }
    }

    fn line_values(&self, line: &str, m: usize) -> Vec<f64> {
        self.lines
            .iter()
            .filter_map(|run| run.iter().find(|(n, _)| n == line).and_then(|(_, f)| f[m]))
            .collect()
    }

    fn values(&self, m: usize) -> Vec<f64> {
        self.runs.iter().filter_map(|r| r[m]).collect()
    }
}

/// Renders the comparison of `groups` (the first is the baseline).
pub fn render(groups: &[Group], markdown: bool) -> String {
    let repeated = groups.iter().any(|g| g.runs.len() > 1);
    let mut s = String::new();
    let base = &groups[0];
    let mut header = vec!["figure".to_string()];
    for g in groups {
        header.push(g.name.clone());
    }
    for g in &groups[1..] {
        header.push(format!("{} vs {}", g.name, base.name));
    }
    let mut rows = vec![header];
    for (m, (name, higher_better)) in METRICS.iter().enumerate() {
        if groups.iter().all(|g| g.values(m).is_empty()) {
            // No result measured it (a closed loop has no schedule lag).
            continue;
        }
        let mut row = vec![(*name).to_string()];
        for g in groups {
            row.push(cell(&g.values(m), repeated));
        }
        for g in &groups[1..] {
            row.push(change(&base.values(m), &g.values(m), *higher_better));
        }
        rows.push(row);
    }
    // Mix lines, lined up by name, in the order the results first name them.
    let mut names: Vec<&str> = Vec::new();
    for g in groups {
        for run in &g.lines {
            for (n, _) in run {
                if !names.contains(&n.as_str()) {
                    names.push(n);
                }
            }
        }
    }
    for line in names {
        for (m, (name, higher_better)) in LINE_METRICS.iter().enumerate() {
            let mut row = vec![format!("[{line}] {name}")];
            for g in groups {
                row.push(cell(&g.line_values(line, m), repeated));
            }
            for g in &groups[1..] {
                row.push(change(
                    &base.line_values(line, m),
                    &g.line_values(line, m),
                    *higher_better,
                ));
            }
            rows.push(row);
        }
    }
    table(&mut s, &rows, markdown);
    flame::section(&mut s, groups, markdown);
    let _ = writeln!(s);
    if repeated {
        let n = groups.iter().map(|g| g.runs.len()).min().unwrap_or(0);
        let _ = writeln!(
            s,
            "Cells: median [min–max] of {n}+ runs. A change is marked * when a two-sided exact Mann–Whitney U test over the runs gives p < {ALPHA} (beyond run-to-run noise), with p shown; unmarked changes are within the noise."
        );
        if n < 4 {
            let _ = writeln!(
                s,
                "With {n} runs a side the smallest possible p is {:.3}: no difference can be called significant; use --repeat 4 or more.",
                mann_whitney_p(&vec![0.0; n], &vec![1.0; n])
            );
        }
    } else {
        let _ = writeln!(
            s,
            "One run each: changes are shown, but whether they exceed run-to-run noise is unknown; compare with --repeat N (N >= 4) to test."
        );
    }
    s
}

/// Sweeps compared step by step: `groups` are (name, the sweeps of one configuration); a step
/// is matched across sweeps by its load level (`8 connections`, `50% of peak`), not by its
/// label, whose absolute rate differs with each sweep's peak. One table per level the first
/// group ran, each as [`render`] draws it.
pub fn render_sweeps(groups: &[(String, Vec<&Sweep>)], markdown: bool) -> String {
    let level = Step::level;
    // Every level any sweep ran, in the order they first appear: a level one group lacks shows
    // as `-` there, not as nothing.
    let mut levels: Vec<String> = Vec::new();
    for st in groups.iter().flat_map(|g| &g.1).flat_map(|s| &s.steps) {
        if !levels.contains(&level(st)) {
            levels.push(level(st));
        }
    }
    let mut s = String::new();
    for lv in &levels {
        let per_group: Vec<Group> = groups
            .iter()
            .map(|(name, sweeps)| {
                let steps: Vec<&Step> = sweeps
                    .iter()
                    .flat_map(|sw| sw.steps.iter().filter(|st| level(st) == *lv))
                    .collect();
                let reports: Vec<&Report> = steps.iter().map(|st| &st.report).collect();
                Group::of(name, &reports)
            })
            .collect();
        let heading = if markdown { "### " } else { "== " };
        let _ = writeln!(s, "{heading}{lv}\n");
        s.push_str(&render(&per_group, markdown));
        let _ = writeln!(s);
    }
    s
}

fn cell(v: &[f64], repeated: bool) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let med = median(v);
    if !repeated {
        return fmt(med);
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{} [{}–{}]", fmt(med), fmt(lo), fmt(hi))
}

fn change(base: &[f64], other: &[f64], higher_better: bool) -> String {
    if base.is_empty() || other.is_empty() {
        return "-".into();
    }
    let (b, o) = (median(base), median(other));
    let rel = if b == 0.0 {
        if o == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    } else {
        (o - b) / b * 100.0
    };
    let better = if (o > b) == higher_better {
        "better"
    } else {
        "worse"
    };
    let what = if o == b {
        "same".to_string()
    } else {
        format!("{rel:+.1}% ({better})")
    };
    if base.len() < 2 || other.len() < 2 {
        return what;
    }
    let p = mann_whitney_p(base, other);
    let mark = if p < ALPHA { "*" } else { "" };
    format!("{what}{mark} p={p:.3}")
}

fn fmt(v: f64) -> String {
    if v.abs() >= 1000.0 {
        nines_common::units::thousands(v.round() as u64)
    } else if v.fract() == 0.0 {
        // Counts (errors) and whole figures.
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        // Small figures (CPU µs per reply) need their second digit to show a change.
        format!("{v:.2}")
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Two-sided exact p of the Mann–Whitney U test (ranks with midranks for ties; the exact null
/// distribution of U without a tie correction).
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let mut all: Vec<(f64, usize)> = a
        .iter()
        .map(|&v| (v, 0))
        .chain(b.iter().map(|&v| (v, 1)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut ranks = vec![0.0; all.len()];
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        ranks[i..=j].fill(r);
        i = j + 1;
    }
    let r1: f64 = all
        .iter()
        .zip(&ranks)
        .filter(|(x, _)| x.1 == 0)
        .map(|(_, r)| r)
        .sum();
    let u1 = r1 - (n1 * (n1 + 1)) as f64 / 2.0;
    let u = u1.min((n1 * n2) as f64 - u1);
    // counts[k] = arrangements with U = k, by the recurrence over the largest element.
    let dist = u_distribution(n1, n2);
    let total: f64 = dist.iter().sum();
    let tail: f64 = dist.iter().take(u.floor() as usize + 1).sum();
    (2.0 * tail / total).min(1.0)
}

fn u_distribution(n1: usize, n2: usize) -> Vec<f64> {
    // f[i][j] = distribution of U for sizes i, j.
    let mut f: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); n2 + 1]; n1 + 1];
    for i in 0..=n1 {
        for j in 0..=n2 {
            f[i][j] = if i == 0 || j == 0 {
                vec![1.0]
            } else {
                let mut d = vec![0.0; i * j + 1];
                // The largest value is from the first sample (adds j to U) or from the second.
                for (k, c) in f[i - 1][j].iter().enumerate() {
                    d[k + j] += c;
                }
                for (k, c) in f[i][j - 1].iter().enumerate() {
                    d[k] += c;
                }
                d
            };
        }
    }
    std::mem::take(&mut f[n1][n2])
}

fn table(s: &mut String, rows: &[Vec<String>], markdown: bool) {
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for (i, r) in rows.iter().enumerate() {
        if markdown {
            let _ = writeln!(s, "| {} |", r.join(" | "));
            if i == 0 {
                let _ = writeln!(s, "|{}", "---|".repeat(cols));
            }
        } else {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (v, w))| {
                    if c == 0 {
                        format!("{v:<w$}")
                    } else {
                        format!("{v:>w$}")
                    }
                })
                .collect();
            let _ = writeln!(s, "  {}", line.join("  "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mann_whitney_matches_known_values() {
        // Completely separated samples of 4 and 4: p = 2/70.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0]);
        assert!((p - 2.0 / 70.0).abs() < 1e-12, "{p}");
        // Of 3 and 3 the smallest p is 2/20 = 0.1: never below 0.05.
        assert!((mann_whitney_p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]) - 0.1).abs() < 1e-12);
        // Interleaved samples are not different.
        assert!(mann_whitney_p(&[1.0, 3.0, 5.0, 7.0], &[2.0, 4.0, 6.0, 8.0]) > 0.5);
        assert_eq!(mann_whitney_p(&[1.0, 1.0], &[1.0, 1.0]), 1.0);
        // 5 vs 5 separated: 2/252.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]);
        assert!((p - 2.0 / 252.0).abs() < 1e-12);
    }

    #[test]
    fn changes_name_their_direction_and_significance() {
        let g = |name: &str, rps: &[f64]| Group {
            name: name.into(),
            lines: Vec::new(),
            flame: None,
            runs: rps
                .iter()
                .map(|&r| {
                    [
                        Some(r),
                        Some(10.0),
                        None,
                        Some(100.0),
                        None,
                        None,
                        None,
                        Some(0.0),
                        Some(4.0 * 100.0 / r),
                        None,
                        None,
                        None,
                    ]
                })
                .collect(),
        };
        let out = render(
            &[
                g("a", &[100.0, 101.0, 99.0, 100.0]),
                g("b", &[120.0, 121.0, 119.0, 122.0]),
            ],
            false,
        );
        assert!(out.contains("+20.5% (better)* p=0.029"), "{out}");
        assert!(out.contains("same"), "{out}");
        // CPU per reply went down as throughput went up: lower is better.
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with("server CPU µs/reply")
                    && l.contains("(better)*")),
            "{out}"
        );
        assert!(
            !out.contains("driver lag"),
            "a figure no run has is left out: {out}"
        );
        let one = render(&[g("a", &[100.0]), g("b", &[90.0])], true);
        assert!(
            one.contains("-10.0% (worse)") && one.contains("One run each"),
            "{one}"
        );
    }
}
