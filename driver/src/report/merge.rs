//! `nines merge`: several results added into one. Histograms are added count by count, so the
//! merged p99.99 is the p99.99 of every request of every part, never an average of percentiles.
//!
//! Merging is for drivers that ran together (several processes or machines loading one target,
//! started with `--start-at`): throughput is all replies over the span from the first part's
//! start to the last part's end, and seconds of the parts' timelines that fall together are
//! added together; so are the drivers' own resources in them, while the target's, read by each
//! driver alike, are taken once. Parts that are one run (the same file twice, a copy, its interval log) are
//! refused: their replies would count twice.

use std::collections::BTreeMap;

use super::checks::{Check, Finding};
use super::histogram::{self, growable, Hist, HistogramError};
use super::server_cpu::ServerCpu;
use super::{
    skeleton, CutShort, DriverSummary, Histograms, IntervalRecord, LatencySummary, LoadSummary,
    OpenLoopSummary, Origin, Outcome, Part, Repeat, Report, Transfer, WarmupSummary,
};
use crate::errors::ErrorCounts;

/// Results that cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("nothing to merge")]
    Empty,
    /// Two parts are one run: merging would count its replies twice.
    #[error("{} and {} are the same run ({}): merging them would count its replies twice", .0.first, .0.second, .0.why)]
    SameRun(Repeat),
    /// A part's histograms could not be added.
    #[error("{file}: {source}")]
    Histogram {
        /// The part.
        file: String,
        /// Why.
        source: HistogramError,
    },
}

/// Adds `parts` (each with the file it came from) into one result.
pub fn merge(parts: Vec<(String, Report)>) -> Result<Report, MergeError> {
    if parts.is_empty() {
        return Err(MergeError::Empty);
    }
    if let Some(repeat) = super::same_run::find_repeat(&parts) {
        return Err(MergeError::SameRun(repeat));
    }
    let histograms = add_histograms(&parts)?;
    let start = parts
        .iter()
        .map(|(_, r)| r.measure_start_unix_s)
        .fold(f64::INFINITY, f64::min);
    let end = parts
        .iter()
        .map(|(_, r)| r.measure_start_unix_s + r.duration_s)
        .fold(f64::NEG_INFINITY, f64::max);
    let intervals = add_intervals(&parts, start)?;
    let lag = histograms
        .schedule_lag
        .as_ref()
        .map(|h| LatencySummary::from_histogram(&h.0));
    let warmup_latency = histograms
        .warmup
        .as_ref()
        .and_then(|h| LatencySummary::from_histogram(&h.0));
    let origin = Origin::Merged {
        parts: parts.iter().flat_map(|(f, r)| part_of(f, r)).collect(),
    };
    let mut r = skeleton(origin, histograms, (end - start).max(0.0), start, intervals);
    let reports: Vec<&Report> = parts.iter().map(|(_, r)| r).collect();
    let mut errors = ErrorCounts::default();
    for p in &reports {
        errors.add_all(&p.errors_by_kind);
    }
    (r.errors, r.errors_by_kind) = (errors.total(), errors);
    if let Some((file, _)) = parts.iter().find(|(_, p)| !p.completed()) {
        r.outcome = Outcome::CutShort(CutShort::PartCutShort { file: file.clone() });
    }
    r.target = distinct(&reports, |p| p.target.clone()).join(", ");
    r.embedded_server = reports.iter().all(|p| p.embedded_server);
    r.started_unix_s = reports
        .iter()
        .map(|p| p.started_unix_s)
        .fold(f64::INFINITY, f64::min);
    r.load = merged_load(&reports, &r.intervals, lag.flatten(), r.throughput_rps)?;
    r.transfer = transfer(&reports, r.duration_s);
    r.warmup = reports
        .iter()
        .all(|p| p.warmup.is_some())
        .then(|| WarmupSummary {
            requests: reports
                .iter()
                .filter_map(|p| p.warmup.as_ref())
                .map(|w| w.requests)
                .sum(),
            duration_s: reports
                .iter()
                .filter_map(|p| p.warmup.as_ref())
                .map(|w| w.duration_s)
                .fold(0.0, f64::max),
            latency_us: warmup_latency,
        });
    r.driver = add_drivers(&reports);
    r.warnings = merged_checks(&reports);
    r.confidence = Some(super::confidence::confidence(r.requests, &r.intervals));
    r.server_cpu = one_server_cpu(&reports);
    let tls: Vec<&super::tls::TlsSummary> = reports.iter().filter_map(|p| p.tls.as_ref()).collect();
    r.tls = super::tls::TlsSummary::merge(&tls, r.server_cpu.as_ref()).map_err(|source| {
        MergeError::Histogram {
            file: "a TLS run's handshake times".to_string(),
            source,
        }
    })?;
    r.by_request = merged_lines(&reports, r.duration_s)?;
    r.stages = merged_stages(&reports, &r.intervals)?;
    r.resources = resources(&r.intervals);
    r.diagnosis = super::diagnosis::diagnose(&r);
    Ok(r)
}

/// What the target and the drivers held over the merged seconds, fitted as a run's are.
fn resources(intervals: &[IntervalRecord]) -> Option<super::resources::ResourceSummary> {
    let held: Vec<_> = intervals
        .iter()
        .filter_map(IntervalRecord::held_at)
        .collect();
    super::resources::summarize(&held)
}

/// The parts' stages as one (their rates and replies added), when they ran the same stages.
fn merged_stages(
    reports: &[&Report],
    intervals: &[IntervalRecord],
) -> Result<Vec<super::stages::StageResult>, MergeError> {
    let stages: Vec<&[super::stages::StageResult]> =
        reports.iter().map(|p| p.stages.as_slice()).collect();
    super::stages::merged(&stages, intervals).map_err(|source| MergeError::Histogram {
        file: "a staged run's stages".to_string(),
        source,
    })
}

/// The parts' request-mix lines added up by name, over the merged `duration_s`.
fn merged_lines(
    reports: &[&Report],
    duration_s: f64,
) -> Result<Vec<super::by_request::RequestResult>, MergeError> {
    let mut lines = Vec::new();
    for p in reports {
        super::by_request::add(&mut lines, &p.by_request).map_err(|source| {
            MergeError::Histogram {
                file: "a request line's latencies".to_string(),
                source,
            }
        })?;
    }
    super::by_request::refigure(&mut lines, duration_s);
    Ok(lines)
}

/// The server's CPU when every part measured the same server processes (driver processes on
/// one machine loading one server): the part that saw it busiest, their windows being nearly
/// the same. Parts that measured different servers, or none, have no one figure.
fn one_server_cpu(reports: &[&Report]) -> Option<ServerCpu> {
    let cpus: Vec<&ServerCpu> = reports
        .iter()
        .filter_map(|p| p.server_cpu.as_ref())
        .collect();
    let first = cpus.first()?;
    let same = cpus.len() == reports.len()
        && !first.pids.is_empty()
        && cpus.iter().all(|c| c.pids == first.pids);
    same.then(|| {
        cpus.iter()
            .max_by(|a, b| a.busiest_thread_pct.total_cmp(&b.busiest_thread_pct))
            .map(|c| (*c).clone())
    })
    .flatten()
}

fn add_histograms(parts: &[(String, Report)]) -> Result<Histograms, MergeError> {
    let pick: [fn(&Histograms) -> Option<&Hist>; 4] = [
        |h| Some(&h.corrected),
        |h| h.uncorrected.as_ref(),
        |h| h.warmup.as_ref(),
        |h| h.schedule_lag.as_ref(),
    ];
    let mut sums = Vec::with_capacity(4);
    for which in pick {
        let mut total = Some(growable());
        for (file, r) in parts {
            // A distribution one part lacks (an interval log has no uncorrected one) is absent
            // from the merge rather than partial.
            match (total.as_mut(), which(&r.histograms)) {
                (Some(t), Some(h)) => {
                    histogram::add(t, &h.0).map_err(|source| MergeError::Histogram {
                        file: file.clone(),
                        source,
                    })?
                }
                _ => total = None,
            }
        }
        sums.push(total.map(Hist));
    }
    let mut sums = sums.into_iter();
    let corrected = sums.next().flatten().unwrap_or_else(|| Hist(growable()));
    Ok(Histograms {
        uncorrected: sums.next().flatten(),
        warmup: sums.next().flatten(),
        schedule_lag: sums.next().flatten(),
        ..Histograms::corrected_only(corrected)
    })
}

/// The parts' seconds, added where they fall in the same second of the merged span. What was
/// held in a second is the target's reading of the first part (in the order given) beside the
/// drivers' added ([`super::resources::Held::beside`]), kept only when every part in that second
/// read it: a sum with a driver missing would show as a drop that never happened.
fn add_intervals(
    parts: &[(String, Report)],
    start: f64,
) -> Result<Vec<IntervalRecord>, MergeError> {
    // Each second's histogram, its sums so far, and whether every part in it read what was held.
    let mut seconds: BTreeMap<u64, (hdrhistogram::Histogram<u64>, IntervalRecord, bool)> =
        BTreeMap::new();
    for (file, r) in parts {
        for iv in &r.intervals {
            let bad = |source| MergeError::Histogram {
                file: file.clone(),
                source,
            };
            let h = iv.histogram.unpack().map_err(bad)?;
            let at = (r.measure_start_unix_s + iv.start_s - start)
                .max(0.0)
                .round() as u64;
            let (hist, sum, all_held) = seconds.entry(at).or_insert_with(|| {
                let empty = growable();
                let rec = IntervalRecord::new(at as f64, 0.0, &empty, 0);
                (empty, rec, true)
            });
            histogram::add(hist, &h).map_err(bad)?;
            sum.duration_s = sum.duration_s.max(iv.duration_s);
            sum.errors += iv.errors;
            sum.received_bytes += iv.received_bytes;
            if let Some(t) = iv.target_rps {
                *sum.target_rps.get_or_insert(0.0) += t;
            }
            sum.connections_opened += iv.connections_opened;
            sum.connections_lost += iv.connections_lost;
            sum.connections_closed += iv.connections_closed;
            *all_held &= iv.held.is_some();
            sum.held = match (sum.held, iv.held) {
                (Some(so_far), Some(h)) => Some(so_far.beside(h)),
                (so_far, h) => so_far.or(h),
            };
        }
    }
    Ok(seconds
        .into_values()
        .map(|(h, sum, all_held)| IntervalRecord {
            held: sum.held.filter(|_| all_held),
            received_bytes: sum.received_bytes,
            target_rps: sum.target_rps,
            connections_opened: sum.connections_opened,
            connections_lost: sum.connections_lost,
            connections_closed: sum.connections_closed,
            ..IntervalRecord::new(sum.start_s, sum.duration_s, &h, sum.errors)
        })
        .collect())
}

/// A part as the merged result lists it; a merged part contributes its own parts.
fn part_of(file: &str, r: &Report) -> Vec<Part> {
    match &r.origin {
        Origin::Merged { parts } => parts.clone(),
        origin => vec![Part {
            file: file.to_string(),
            target: r.target.clone(),
            requests: r.requests,
            errors: r.errors,
            throughput_rps: r.throughput_rps,
            duration_s: r.duration_s,
            measure_start_unix_s: r.measure_start_unix_s,
            completed: r.completed(),
            manifest: match origin {
                Origin::Run { manifest } => Some((**manifest).clone()),
                _ => None,
            },
        }],
    }
}

/// The parts' load as one: the same model's figures added (an open loop's requested rates, a
/// storm's clients, connect times and memory), or `Mixed` when the models differ. `lag` is the
/// parts' schedule-lag histograms merged, when every part saved one.
fn merged_load(
    reports: &[&Report],
    intervals: &[IntervalRecord],
    lag: Option<LatencySummary>,
    achieved_rps: f64,
) -> Result<LoadSummary, MergeError> {
    if same(reports, |p| p.load.model()).is_none() {
        return Ok(LoadSummary::Mixed);
    }
    Ok(match &reports[0].load {
        LoadSummary::OpenLoop(first) => {
            let requested_rps = reports
                .iter()
                .filter_map(|p| match &p.load {
                    LoadSummary::OpenLoop(o) => Some(o.requested_rps),
                    _ => None,
                })
                .sum();
            LoadSummary::OpenLoop(OpenLoopSummary {
                requested_rps,
                achieved_rps,
                schedule_lag_us: lag,
                ..first.clone()
            })
        }
        LoadSummary::Storm(_) => {
            let storms: Vec<&super::StormSummary> = reports
                .iter()
                .filter_map(|p| match &p.load {
                    LoadSummary::Storm(s) => Some(&**s),
                    _ => None,
                })
                .collect();
            let merged = super::storm::merge(&storms, intervals, lag).map_err(|source| {
                MergeError::Histogram {
                    file: "a storm's connect times".to_string(),
                    source,
                }
            })?;
            LoadSummary::Storm(Box::new(merged))
        }
        same_model => same_model.clone(),
    })
}

/// Bytes the parts moved, over the merged span (none when a part did not count them).
fn transfer(reports: &[&Report], duration_s: f64) -> Option<Transfer> {
    let all: Option<Vec<Transfer>> = reports.iter().map(|p| p.transfer).collect();
    let all = all?;
    Some(Transfer::over(
        all.iter().map(|t| t.received_bytes).sum(),
        all.iter().map(|t| t.sent_bytes).sum(),
        duration_s,
    ))
}

fn add_drivers(reports: &[&Report]) -> DriverSummary {
    let mut d = DriverSummary::default();
    for p in reports {
        let o = &p.driver;
        d.threads += o.threads;
        d.connections += o.connections;
        d.connections_opened += o.connections_opened;
        d.connections_lost += o.connections_lost;
        d.requests_sent += o.requests_sent;
        d.in_flight_at_stop += o.in_flight_at_stop;
        d.capped_replies += o.capped_replies;
        d.connect_s = d.connect_s.max(o.connect_s);
        for (errno, n) in &o.connect_failures {
            *d.connect_failures.entry(errno.clone()).or_default() += n;
        }
        super::sections::add_counts(&mut d.reply_kinds, &o.reply_kinds);
        super::sections::add_counts(&mut d.decode_failures, &o.decode_failures);
        d.reconnects += o.reconnects;
        d.thread_cpu_pct.extend(&o.thread_cpu_pct);
        d.thread_busy_pct.extend(&o.thread_busy_pct);
    }
    d
}

/// The parts' own warnings (once each), and what merging them found.
fn merged_checks(reports: &[&Report]) -> Vec<Check> {
    let mut checks: Vec<Check> = Vec::new();
    for c in reports.iter().flat_map(|p| &p.warnings) {
        if !checks.contains(c) {
            checks.push(c.clone());
        }
    }
    let latest_start = reports
        .iter()
        .map(|p| p.measure_start_unix_s)
        .fold(f64::NEG_INFINITY, f64::max);
    let earliest_end = reports
        .iter()
        .map(|p| p.measure_start_unix_s + p.duration_s)
        .fold(f64::INFINITY, f64::min);
    if reports.len() > 1 && latest_start >= earliest_end {
        checks.push(
            Finding::MergedRunsApart {
                parts: reports.len(),
            }
            .into(),
        );
    }
    let mut differ = Vec::new();
    if distinct(reports, |p| p.target.clone()).len() > 1 {
        differ.push("target");
    }
    let requests = distinct(reports, |p| {
        p.manifest()
            .map(|m| m.config.request.describe())
            .unwrap_or_default()
    });
    if requests.len() > 1 {
        differ.push("requests");
    }
    if same(reports, |p| p.load.model()).is_none() {
        differ.push("load model");
    }
    if !differ.is_empty() {
        checks.push(
            Finding::MergedDifferentLoads {
                what: differ.join(" and "),
            }
            .into(),
        );
    }
    checks
}

/// The value every report has, if they all have the same one.
fn same<T: PartialEq>(reports: &[&Report], f: impl Fn(&Report) -> T) -> Option<T> {
    let first = f(reports[0]);
    reports[1..].iter().all(|p| f(p) == first).then_some(first)
}

/// The distinct values, in first-seen order.
fn distinct(reports: &[&Report], f: impl Fn(&Report) -> String) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in reports {
        let v = f(p);
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}
