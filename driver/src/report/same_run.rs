//! Whether two results to be merged are one run: the same file twice, a copy of it, a merge
//! that already holds it, or its interval log beside its JSON. Merging a run with itself
//! doubles its replies in the same seconds, so its throughput reads twice as high, and nothing
//! in the merged figures shows it.
//!
//! A run is named by the random `run_id` its manifest draws when it begins: a storm's processes
//! share everything else (command, configuration, host, and a start the clock cannot tell
//! apart), so nothing else names a run alone. Results from before `run_id` was kept are named
//! by their manifest and the instant their measurement began, which can mistake two processes
//! started together for one. An interval log keeps no manifest and its times only to the
//! millisecond, so a log is the same run as another result when both began within a
//! millisecond of each other and hold the very same latencies, count for count.

use super::{Origin, Report};

/// Two results that are one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    /// The earlier of the two, as given.
    pub first: String,
    /// The later.
    pub second: String,
    /// How they were found to be one run.
    pub why: &'static str,
}

/// Interval logs keep their start to the millisecond.
const LOG_START_SLACK_S: f64 = 0.002;

/// The first pair of `parts` (each with the file it came from) that are one run.
pub fn find_repeat(parts: &[(String, Report)]) -> Option<Repeat> {
    for (j, (second, b)) in parts.iter().enumerate() {
        for (first, a) in &parts[..j] {
            if let Some(why) = same_run(a, b) {
                return Some(Repeat {
                    first: first.clone(),
                    second: second.clone(),
                    why,
                });
            }
        }
    }
    None
}

fn same_run(a: &Report, b: &Report) -> Option<&'static str> {
    let shared = runs(a).any(|x| runs(b).any(|y| one_run(x, y)));
    if shared {
        return Some(match (&a.origin, &b.origin) {
            (Origin::Run { .. }, Origin::Run { .. }) => "the same run id",
            _ => "both hold a run with the same run id",
        });
    }
    let a_log = matches!(a.origin, Origin::IntervalLog { .. });
    let b_log = matches!(b.origin, Origin::IntervalLog { .. });
    ((a_log || b_log) && same_latencies(a, b))
        .then_some("the same latencies, count for count, from the same instant")
}

/// The runs a result holds: its own, or a merge's parts (those with a manifest), each as its
/// manifest and the instant its measurement began.
fn runs(r: &Report) -> impl Iterator<Item = (&super::manifest::Manifest, u64)> + '_ {
    let (own, parts) = match &r.origin {
        Origin::Run { manifest } => (Some((&**manifest, r.measure_start_unix_s)), &[][..]),
        Origin::Merged { parts } => (None, parts.as_slice()),
        Origin::IntervalLog { .. } => (None, &[][..]),
    };
    own.into_iter()
        .chain(
            parts
                .iter()
                .filter_map(|p| p.manifest.as_ref().map(|m| (m, p.measure_start_unix_s))),
        )
        .map(|(m, start)| (m, start.to_bits()))
}

/// Two runs' identities: their run ids when both have one, else manifest and start.
fn one_run(
    (ma, start_a): (&super::manifest::Manifest, u64),
    (mb, start_b): (&super::manifest::Manifest, u64),
) -> bool {
    if !ma.run_id.is_empty() && !mb.run_id.is_empty() {
        ma.run_id == mb.run_id
    } else {
        ma == mb && start_a == start_b
    }
}

fn same_latencies(a: &Report, b: &Report) -> bool {
    let (ha, hb) = (&a.histograms.corrected.0, &b.histograms.corrected.0);
    a.requests > 0
        && a.requests == b.requests
        && (a.measure_start_unix_s - b.measure_start_unix_s).abs() < LOG_START_SLACK_S
        && ha
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .eq(hb
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value())))
}
