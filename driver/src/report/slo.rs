//! `--slo "p99<=2ms,p99.9<=10ms,errors<=0.1%,rps>=50000"`: a gate for CI. A clause may name
//! one line of a request mix, `p99[GET /a]<=5ms`, and is then checked against that line's
//! results alone. Each clause is
//! checked against the one Report at the end of a run and printed PASS or FAIL with the measured
//! value; the run exits 0 only when every clause passes ([`EXIT_SLO_FAILED`] otherwise). A run
//! whose own checks say the driver, not the target, shaped the figures fails the gate unless
//! `--allow-invalid`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::report::resources::{Growth, Trend};
use crate::report::{Finding, Report};

/// Exit status when the run completed but a clause failed (1 is a run that could not complete,
/// 2 bad usage).
pub const EXIT_SLO_FAILED: u8 = 3;

/// What a clause measures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// A corrected latency percentile (99.9 for p99.9), µs.
    Percentile(f64),
    /// Mean corrected latency, µs.
    Mean,
    /// Largest corrected latency, µs.
    Max,
    /// Errors as a share of requests (replies + errors), percent.
    ErrorPercent,
    /// Errors, counted.
    Errors,
    /// Measured replies per second.
    Rps,
    /// Growth of the target's resident memory over the run, bytes per second.
    RssGrowth,
    /// Growth of the target's open descriptors over the run, per second.
    FdGrowth,
}

impl Metric {
    /// The trend of a process's growth this metric judges (none for the other metrics).
    pub fn trend(self, g: &Growth) -> Option<Trend> {
        match self {
            Metric::RssGrowth => Some(g.rss_bytes),
            Metric::FdGrowth => Some(g.fds),
            _ => None,
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmp {
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `>`
    #[serde(rename = ">")]
    Gt,
}

impl Cmp {
    /// Whether `measured` is within `bound`.
    pub fn holds(self, measured: f64, bound: f64) -> bool {
        match self {
            Cmp::Le => measured <= bound,
            Cmp::Lt => measured < bound,
            Cmp::Ge => measured >= bound,
            Cmp::Gt => measured > bound,
        }
    }
}

/// One clause: `p99<=2ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clause {
    /// As written.
    pub text: String,
    /// What it measures.
    pub metric: Metric,
    /// How it compares.
    pub cmp: Cmp,
    /// The bound, in the metric's unit (µs, percent, count, requests/s).
    pub bound: f64,
    /// The line of the request mix it is about (`p99[NAME]`), or the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

/// A clause checked against a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClauseResult {
    /// The clause.
    pub clause: Clause,
    /// What the run measured (none when it measured nothing to compare).
    pub measured: Option<f64>,
    /// Whether it holds.
    pub pass: bool,
}

/// The gate's verdict on one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// Each clause.
    pub clauses: Vec<ClauseResult>,
    /// Why the run's figures cannot be trusted against an SLO (the driver shaped them), if so.
    pub invalid: Option<String>,
    /// Whether `--allow-invalid` let an invalid run be judged anyway.
    pub allow_invalid: bool,
    /// Every clause passed and the run is valid (or allowed).
    pub pass: bool,
}

/// Parses an SLO expression; the error is one line naming the clause and what is wrong.
pub fn parse(expr: &str) -> Result<Vec<Clause>, String> {
    let mut out = Vec::new();
    for raw in split_clauses(expr).into_iter().map(str::trim) {
        if raw.is_empty() {
            return Err(format!(
                "`{expr}`: an empty clause (two commas, or one at an end)"
            ));
        }
        out.push(clause(raw)?);
    }
    Ok(out)
}

/// `expr` cut at its commas, except those inside a `[NAME]`.
fn split_clauses(expr: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut from) = (0i32, 0);
    for (i, c) in expr.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&expr[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    out.push(&expr[from..]);
    out
}

/// The names of the mix lines `clauses` refer to.
pub fn lines_named(clauses: &[Clause]) -> impl Iterator<Item = &str> {
    clauses.iter().filter_map(|c| c.request.as_deref())
}

fn clause(raw: &str) -> Result<Clause, String> {
    // `p99[GET /a]<=5ms`: the measure, the line it is about, then the comparison.
    let (request, rest) = match raw.split_once('[') {
        Some((measure, tail)) => {
            let (name, after) = tail.split_once(']').ok_or_else(|| {
                format!("`{raw}`: `[` without `]` (a line of the mix is named p99[NAME]<=5ms)")
            })?;
            if name.trim().is_empty() {
                return Err(format!("`{raw}`: an empty [NAME]"));
            }
            (Some(name.trim().to_string()), format!("{measure}{after}"))
        }
        None => (None, raw.to_string()),
    };
    let mut c =
        measure_clause(&rest).map_err(|e| e.replace(&format!("`{rest}`"), &format!("`{raw}`")))?;
    c.text = raw.to_string();
    c.request = request;
    Ok(c)
}

fn measure_clause(raw: &str) -> Result<Clause, String> {
    let ops = [
        ("<=", Cmp::Le),
        (">=", Cmp::Ge),
        ("<", Cmp::Lt),
        (">", Cmp::Gt),
    ];
    let (at, op, cmp) = ops
        .iter()
        .filter_map(|&(op, c)| raw.find(op).map(|i| (i, op, c)))
        .min_by_key(|&(i, op, _)| (i, std::cmp::Reverse(op.len())))
        .ok_or_else(|| format!("`{raw}`: no comparison (use <=, <, >= or >), e.g. p99<=2ms"))?;
    let name = raw[..at].trim().to_ascii_lowercase();
    let value = raw[at + op.len()..].trim();
    let bad = |why: &str| format!("`{raw}`: {why}");
    let (metric, bound) =
        match name.as_str() {
            "rps" | "throughput" => (
                Metric::Rps,
                nines_common::units::parse_rate(value).map_err(|e| bad(&e))?,
            ),
            "errors" => match value.strip_suffix('%') {
                Some(p) => (
                    Metric::ErrorPercent,
                    p.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite() && (0.0..=100.0).contains(v))
                        .ok_or_else(|| bad("a percentage from 0% to 100%"))?,
                ),
                None => (
                    Metric::Errors,
                    value
                        .parse::<u64>()
                        .map_err(|_| bad("a count (errors<=10) or a share (errors<=0.1%)"))?
                        as f64,
                ),
            },
            "rss_growth" => (
                Metric::RssGrowth,
                growth_bound(value, true).map_err(|e| bad(&e))?,
            ),
            "fd_growth" => (
                Metric::FdGrowth,
                growth_bound(value, false).map_err(|e| bad(&e))?,
            ),
            "mean" | "max" => (
                if name == "mean" {
                    Metric::Mean
                } else {
                    Metric::Max
                },
                latency_bound(value).map_err(|e| bad(&e))?,
            ),
            p if p.starts_with('p') => {
                let q: f64 = p[1..]
                    .parse()
                    .ok()
                    .filter(|q: &f64| *q > 0.0 && *q < 100.0)
                    .ok_or_else(|| bad("a percentile is p50, p99, p99.9, p99.99 ..."))?;
                (
                    Metric::Percentile(q),
                    latency_bound(value).map_err(|e| bad(&e))?,
                )
            }
            _ => return Err(bad(
                "unknown measure (p50 .. p99.99, mean, max, errors, rps, rss_growth, fd_growth)",
            )),
        };
    Ok(Clause {
        text: raw.to_string(),
        metric,
        cmp,
        bound,
        request: None,
    })
}

/// A growth bound per second: `10MB/min`, `512k/s`, `0` for memory (`bytes`; k, m, g and KB,
/// MB, GB are all binary), `5/min`, `0` for descriptors.
fn growth_bound(v: &str, bytes: bool) -> Result<f64, String> {
    let (amount, per) = v.split_once('/').unwrap_or((v, "s"));
    let per_s = match per.trim() {
        "s" => 1.0,
        "min" | "m" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("`/{other}`: growth is per s, min or h (10MB/min)")),
    };
    let amount = amount.trim().to_ascii_lowercase();
    let value = if bytes {
        let binary = ["kb", "mb", "gb"]
            .iter()
            .find_map(|u| amount.strip_suffix(u).map(|n| format!("{n}{}", &u[..1])));
        nines_common::units::parse_bytes(binary.as_deref().unwrap_or(&amount))? as f64
    } else {
        amount
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .ok_or_else(|| format!("`{amount}` is not a count of descriptors (fd_growth<=0)"))?
    };
    Ok(value / per_s)
}

/// A latency bound with its unit (`2ms`, `500us`, `1.5s`), in µs.
fn latency_bound(v: &str) -> Result<f64, String> {
    if v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("`{v}` needs a unit (500us, 2ms, 1s)"));
    }
    nines_common::units::parse_duration(v).map(|d| d.as_secs_f64() * 1e6)
}

/// Checks `clauses` against `report`.
pub fn check(clauses: &[Clause], report: &Report, allow_invalid: bool) -> Gate {
    let results: Vec<ClauseResult> = clauses
        .iter()
        .map(|c| {
            let measured = match &c.request {
                None => measure(c.metric, report),
                Some(name) => super::by_request::find(&report.by_request, name)
                    .and_then(|l| measure_line(c.metric, l)),
            };
            ClauseResult {
                clause: c.clone(),
                measured,
                pass: measured.is_some_and(|m| c.cmp.holds(m, c.bound)),
            }
        })
        .collect();
    let invalid = invalid_because(report);
    let pass = results.iter().all(|r| r.pass) && (invalid.is_none() || allow_invalid);
    Gate {
        clauses: results,
        invalid,
        allow_invalid,
        pass,
    }
}

fn measure(m: Metric, r: &Report) -> Option<f64> {
    let total = r.requests + r.errors;
    match m {
        Metric::Rps => Some(r.throughput_rps),
        Metric::Errors => Some(r.errors as f64),
        Metric::ErrorPercent => (total > 0).then(|| 100.0 * r.errors as f64 / total as f64),
        Metric::Mean => r.latency_us.map(|l| l.mean),
        Metric::Max => r.latency_us.map(|l| l.max),
        Metric::Percentile(q) => {
            let h = &r.histograms.corrected.0;
            (!h.is_empty()).then(|| h.value_at_quantile(q / 100.0) as f64 / 1000.0)
        }
        Metric::RssGrowth | Metric::FdGrowth => Some(m.trend(&r.resources?.server?)?.per_s),
    }
}

/// `m` for one line of the mix.
fn measure_line(m: Metric, l: &super::by_request::RequestResult) -> Option<f64> {
    let total = l.requests + l.errors;
    match m {
        Metric::Rps => Some(l.throughput_rps),
        Metric::Errors => Some(l.errors as f64),
        Metric::ErrorPercent => (total > 0).then(|| 100.0 * l.errors as f64 / total as f64),
        Metric::Mean => l.latency_us.map(|s| s.mean),
        Metric::Max => l.latency_us.map(|s| s.max),
        Metric::Percentile(q) => {
            let h = &l.histogram.0;
            (!h.is_empty()).then(|| h.value_at_quantile(q / 100.0) as f64 / 1000.0)
        }
        // The target's resources are the whole run's, no line's.
        Metric::RssGrowth | Metric::FdGrowth => None,
    }
}

/// The run's own checks that say its figures do not measure what was asked: the driver shaped
/// them (it sent late, or a thread was saturated), or the server did less than each request
/// asked (CAPPED replies: a faster answer to an easier question).
fn invalid_because(r: &Report) -> Option<String> {
    let reasons: Vec<&str> = r
        .warnings
        .iter()
        .filter(|c| {
            matches!(
                c.finding,
                Finding::ScheduleLag { .. }
                    | Finding::DriverBusy { .. }
                    | Finding::CappedReplies { .. }
            )
        })
        .map(|c| c.message.as_str())
        .collect();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.clauses {
            let c = &r.clause;
            let measured = match r.measured {
                None => match c.metric {
                    Metric::RssGrowth | Metric::FdGrowth => {
                        "nothing: the target's processes were not read (an embedded server, or one on another machine that is not a nines-server reporting them)".to_string()
                    }
                    _ => "nothing".to_string(),
                },
                Some(v) => match c.metric {
                    Metric::Percentile(_) | Metric::Mean | Metric::Max if v >= 1000.0 => {
                        format!("{:.2} ms", v / 1000.0)
                    }
                    Metric::Percentile(_) | Metric::Mean | Metric::Max => format!("{v:.1} µs"),
                    Metric::ErrorPercent => format!("{v:.3}%"),
                    Metric::Errors => format!("{v:.0}"),
                    Metric::Rps => {
                        format!("{} req/s", nines_common::units::thousands(v.round() as u64))
                    }
                    Metric::RssGrowth => super::resources::rss_rate_text(v),
                    Metric::FdGrowth => super::resources::fd_rate_text(v),
                },
            };
            writeln!(
                f,
                "  SLO {}    {:<24} measured {measured}",
                if r.pass { "PASS" } else { "FAIL" },
                c.text,
            )?;
        }
        if let Some(why) = &self.invalid {
            let verdict = if self.allow_invalid {
                "judged anyway (--allow-invalid)"
            } else {
                "FAIL: these figures do not measure what was asked (--allow-invalid to judge them anyway)"
            };
            writeln!(f, "  SLO INVALID {verdict}: {why}")?;
        }
        writeln!(
            f,
            "  SLO {}",
            if self.pass {
                "PASS (every clause)"
            } else {
                "FAIL"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_of_expressions() {
        let ok = [
            ("p99<=2ms", Metric::Percentile(99.0), Cmp::Le, 2000.0),
            ("p99.9 < 10ms", Metric::Percentile(99.9), Cmp::Lt, 10_000.0),
            ("errors<=0.1%", Metric::ErrorPercent, Cmp::Le, 0.1),
            ("errors<=5", Metric::Errors, Cmp::Le, 5.0),
            ("rps>=50000", Metric::Rps, Cmp::Ge, 50_000.0),
            ("rps>50k", Metric::Rps, Cmp::Gt, 50_000.0),
            ("max<=1s", Metric::Max, Cmp::Le, 1e6),
            ("mean<500us", Metric::Mean, Cmp::Lt, 500.0),
            ("P50<=1ms", Metric::Percentile(50.0), Cmp::Le, 1000.0),
            (
                "rss_growth<=10MB/min",
                Metric::RssGrowth,
                Cmp::Le,
                10.0 * 1048576.0 / 60.0,
            ),
            ("rss_growth<=512k/s", Metric::RssGrowth, Cmp::Le, 524_288.0),
            ("fd_growth<=0", Metric::FdGrowth, Cmp::Le, 0.0),
            ("fd_growth<30/min", Metric::FdGrowth, Cmp::Lt, 0.5),
        ];
        for (text, metric, cmp, bound) in ok {
            let c = &parse(text).unwrap()[0];
            assert_eq!((c.metric, c.cmp, c.bound), (metric, cmp, bound), "{text}");
        }
        assert_eq!(
            parse("p99<=2ms,p99.9<=10ms,errors<=0.1%,rps>=50000")
                .unwrap()
                .len(),
            4
        );
        let bad = [
            ("p99", "no comparison"),
            ("p99<=2", "needs a unit"),
            ("p100<=2ms", "percentile"),
            ("latency<=2ms", "unknown measure"),
            ("errors<=150%", "percentage"),
            ("errors<=x", "a count"),
            ("rps>=fast", "rps"),
            ("p99<=2ms,", "empty clause"),
            ("rss_growth<=10MB/day", "per s, min or h"),
            ("rss_growth<=lots/min", "not a byte count"),
            ("fd_growth<=some", "not a count of descriptors"),
        ];
        for (text, why) in bad {
            let e = parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }
}
