//! The report: one value per result, built once from the merged measurements of a run (or by
//! adding results together), saved as JSON, read back, merged, and rendered by every output —
//! terminal text, Markdown, CSV, `.hgrm`, `.hlog` and JSON all render this one value.
//!
//! A saved report is complete: besides the figures (`throughput_rps`, `requests`, `errors`,
//! `duration_s`, `latency_us{min,mean,p50,p75,p90,p95,p99,p99_9,p99_99,max}`, the keys
//! DESIGN.md promises) it carries its corrected, uncorrected, warm-up and schedule-lag
//! histograms, one histogram per second of measurement, typed self-checks, and a manifest of the
//! build, configuration and host. `nines report` re-renders it; `nines merge` adds several into
//! one true distribution.

mod build;
pub mod checks;
pub mod confidence;
pub mod diagnosis;
mod files;
pub mod histogram;
mod merge;
pub mod plot;
pub mod render;
pub mod storm;
mod summary;

pub use build::{build, RunRecord};
pub use checks::{Check, Finding};
pub use files::{load, parse, write_atomic, LoadError};
pub use merge::{merge, MergeError};
pub use render::{render, Format};
pub use storm::StormSummary;
pub use summary::LatencySummary;

use std::collections::BTreeMap;

use nines_common::units::thousands;
use serde::{Deserialize, Serialize};

use crate::errors::ErrorCounts;
use crate::kernel::KernelDelta;
use crate::manifest::Manifest;
use histogram::{Hist, Packed};

/// The `format` of reports this nines writes and reads.
pub const FORMAT: &str = "nines-report/1";

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", content = "cut_short", rename_all = "snake_case")]
pub enum Outcome {
    /// Ran as planned and measured replies.
    Completed,
    /// Stopped early, or measured nothing: the figures cover what was measured until then.
    CutShort(CutShort),
}

/// Why a run was cut short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CutShort {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// Errors reached `--max-errors`.
    ErrorLimit {
        /// Errors counted.
        errors: u64,
        /// The limit.
        max_errors: u64,
    },
    /// Every established connection was lost.
    ConnectionsLost {
        /// Connections lost.
        lost: u64,
    },
    /// No connection could be established.
    NoConnections {
        /// Connections tried.
        tried: u64,
    },
    /// The run went to its end without one measured reply.
    NoReplies,
    /// A merged part was cut short.
    PartCutShort {
        /// The part's file.
        file: String,
    },
}

impl std::fmt::Display for CutShort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CutShort::Interrupted => f.write_str("interrupted"),
            CutShort::ErrorLimit { errors, max_errors } => write!(
                f,
                "error limit reached ({} errors, --max-errors {})",
                thousands(*errors),
                thousands(*max_errors)
            ),
            CutShort::ConnectionsLost { lost } => {
                write!(f, "every connection was lost ({})", thousands(*lost))
            }
            CutShort::NoConnections { tried } => {
                write!(
                    f,
                    "no connection could be established ({} tried)",
                    thousands(*tried)
                )
            }
            CutShort::NoReplies => f.write_str("no reply was measured"),
            CutShort::PartCutShort { file } => write!(f, "{file} was cut short"),
        }
    }
}

/// Load model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Each connection keeps `--pipeline` requests in flight.
    ClosedLoop,
    /// Requests fall due on a schedule (`--rate`).
    OpenLoop,
}

/// Warm-up figures, kept apart from the measurement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WarmupSummary {
    /// Replies recorded during warm-up.
    pub requests: u64,
    /// Warm-up length in seconds.
    pub duration_s: f64,
    /// Warm-up latency (none without replies).
    pub latency_us: Option<LatencySummary>,
}

/// The driver's own side of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct DriverSummary {
    /// Driver threads used.
    pub threads: usize,
    /// Connections asked for.
    pub connections: u64,
    /// Connections established.
    pub connections_opened: u64,
    /// Established connections lost before the end.
    pub connections_lost: u64,
    /// Failed connects by OS error name (`EMFILE`, `ECONNREFUSED`, `ETIMEDOUT`, ...).
    pub connect_failures: BTreeMap<String, u64>,
    /// Seconds until every connection was established (or gave up): the slowest thread's.
    pub connect_s: f64,
    /// Requests written (warm-up included). Each ended as a reply or a request-level error,
    /// or was still in flight when the run was stopped early.
    pub requests_sent: u64,
    /// Requests in flight when the run was stopped early.
    pub in_flight_at_stop: u64,
    /// Replies the server marked CAPPED (it did less than asked).
    pub capped_replies: u64,
    /// Replies by kind, warm-up included: HTTP status (`200`), RESP reply type (`bulk`,
    /// `error WRONGTYPE`). Absent for protocols without kinds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reply_kinds: BTreeMap<String, u64>,
    /// Connections dropped for bytes that were no reply, by what was wrong
    /// (`http_status_line`, `resp_type`, `ws_masked`, `bad_magic`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub decode_failures: BTreeMap<String, u64>,
    /// Connections the server closed after a reply as it said it would (HTTP `Connection:
    /// close`), opened again by the driver.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reconnects: u64,
    /// Each thread's CPU time as a percentage of its wall time while loading.
    pub thread_cpu_pct: Vec<f64>,
    /// The same without time spent spinning idle for the next due request (open loop). Near 100
    /// means that thread, not the server, may have limited the result.
    pub thread_busy_pct: Vec<f64>,
}

/// Open-loop figures: what was asked, what was achieved, how late the driver was.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpenLoopSummary {
    /// The requested rate (`--rate`).
    pub requested_rps: f64,
    /// Replies per second actually measured.
    pub achieved_rps: f64,
    /// Arrival process.
    pub arrival: crate::schedule::Arrival,
    /// Seed of the arrival process.
    pub seed: u64,
    /// How late the driver sent due requests, from when a slot was free (none if none sent).
    pub schedule_lag_us: Option<LatencySummary>,
}

/// Where a nines-server's time went during the run (`nines profile`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProfileSummary {
    /// Share of server time accepting connections (%).
    pub accept_pct: f64,
    /// Share reading requests (%).
    pub read_pct: f64,
    /// Share decoding, handling and encoding (%).
    pub process_pct: f64,
    /// Share writing replies (%).
    pub write_pct: f64,
    /// Share of everything else while awake: event dispatch, wakeups, bookkeeping (%).
    pub overhead_pct: f64,
    /// The largest phase: accept, read, process, write or overhead.
    pub bottleneck: String,
    /// Server nanoseconds the shares divide.
    pub profiled_ns: u64,
    /// Requests the server handled between the two snapshots.
    pub server_requests: u64,
}

/// One second of measurement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntervalRecord {
    /// Start, seconds after the start of measurement.
    pub start_s: f64,
    /// Length in seconds (the last one may be short).
    pub duration_s: f64,
    /// Replies received in it.
    pub requests: u64,
    /// Errors counted in it.
    pub errors: u64,
    /// Their corrected latency (none without replies).
    pub latency_us: Option<LatencySummary>,
    /// Their corrected latencies.
    pub histogram: Packed,
    /// Connections established in it (storms, reconnects).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub connections_opened: u64,
    /// Established connections lost in it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub connections_lost: u64,
}

/// The distributions behind the figures, in nanoseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Histograms {
    /// How they are encoded ([`histogram::ENCODING`]).
    pub encoding: String,
    /// Measured latency from each request's intended send time.
    pub corrected: Hist,
    /// Measured latency from each request's actual send (absent when a merged part lacked it).
    pub uncorrected: Option<Hist>,
    /// Warm-up latency (corrected).
    pub warmup: Option<Hist>,
    /// Open loop: the driver's schedule lag.
    pub schedule_lag: Option<Hist>,
}

/// One result merged into another.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Part {
    /// The file it was read from.
    pub file: String,
    /// The address it loaded.
    pub target: String,
    /// Its measured replies.
    pub requests: u64,
    /// Its errors.
    pub errors: u64,
    /// Its throughput.
    pub throughput_rps: f64,
    /// Its measured seconds.
    pub duration_s: f64,
    /// When its measurement started, seconds since the Unix epoch.
    pub measure_start_unix_s: f64,
    /// Whether it completed.
    pub completed: bool,
    /// Its manifest, when it was a run.
    pub manifest: Option<Manifest>,
}

/// Where a result came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "origin", rename_all = "snake_case")]
pub enum Origin {
    /// A run of `nines bench` or `nines profile`.
    Run {
        /// Build, configuration and host.
        manifest: Box<Manifest>,
    },
    /// Results added together by `nines merge`.
    Merged {
        /// What was added.
        parts: Vec<Part>,
    },
    /// An HdrHistogram interval log, read as a result.
    IntervalLog {
        /// The log.
        file: String,
    },
}

/// One result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Report format ([`FORMAT`]).
    pub format: String,
    /// Measured replies per second.
    pub throughput_rps: f64,
    /// Measured replies (errors excluded).
    pub requests: u64,
    /// All errors, warm-up included.
    pub errors: u64,
    /// Seconds from the start of measurement to the last measured reply.
    pub duration_s: f64,
    /// Measured latency, corrected for coordinated omission: from each request's intended send
    /// time (in closed loop, intended and actual send are the same). None without replies.
    pub latency_us: Option<LatencySummary>,
    /// Latency from each request's actual send, as a closed-loop tool would report it.
    pub latency_uncorrected_us: Option<LatencySummary>,
    /// completed, or cut_short with why.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Errors by kind (only kinds that occurred).
    pub errors_by_kind: ErrorCounts,
    /// Reasons these figures may not measure the target alone.
    pub warnings: Vec<Check>,
    /// Load model (none when merged results differ, or unknown for an interval log).
    pub mode: Option<Mode>,
    /// The address loaded.
    pub target: String,
    /// Whether the server was started in-process by the driver.
    pub embedded_server: bool,
    /// Open-loop figures, when the run was open loop.
    pub open_loop: Option<OpenLoopSummary>,
    /// Warm-up figures.
    pub warmup: Option<WarmupSummary>,
    /// Driver-side facts.
    pub driver: DriverSummary,
    /// The embedded server's counters at the end, when there was one.
    pub server: Option<BTreeMap<String, u64>>,
    /// Kernel TCP counters' change during the run (the driver machine's kernel).
    pub kernel: Option<KernelDelta>,
    /// Where the server's time went (`nines profile`).
    pub profile: Option<ProfileSummary>,
    /// The server's CPU during the run (from /proc, when it is on this machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu: Option<crate::servercpu::ServerCpu>,
    /// 95% confidence intervals of the percentiles by batch means over the seconds, and where
    /// the run is too short for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<confidence::Confidence>,
    /// What limited the run, each claim with its evidence.
    #[serde(default)]
    pub diagnosis: Vec<diagnosis::Limit>,
    /// The `--slo` gate's verdict, when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<crate::slo::Gate>,
    /// A storm's own figures (`nines storm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storm: Option<StormSummary>,
    /// When load started, seconds since the Unix epoch.
    pub started_unix_s: f64,
    /// When measurement started, seconds since the Unix epoch.
    pub measure_start_unix_s: f64,
    /// Where the result came from: a run and its manifest, or the parts merged.
    #[serde(flatten)]
    pub origin: Origin,
    /// The distributions behind the figures.
    pub histograms: Histograms,
    /// One entry per second of measurement.
    pub intervals: Vec<IntervalRecord>,
}

impl Report {
    /// Whether the run went as planned and measured replies: the exit status is 0 only then.
    pub fn completed(&self) -> bool {
        self.outcome == Outcome::Completed
    }

    /// Every reply of the run: the measured ones and the warm-up's.
    pub fn all_replies(&self) -> u64 {
        self.requests + self.warmup.as_ref().map_or(0, |w| w.requests)
    }

    /// The run's manifest, when the result is one run.
    pub fn manifest(&self) -> Option<&Manifest> {
        match &self.origin {
            Origin::Run { manifest } => Some(manifest),
            _ => None,
        }
    }

    /// Whether a self-check of this kind fired.
    pub fn warned(&self, kind: impl Fn(&Finding) -> bool) -> bool {
        self.warnings.iter().any(|c| kind(&c.finding))
    }
}

impl IntervalRecord {
    /// A second that started `start_s` after measurement began and lasted `duration_s`, with
    /// the corrected latencies of its replies and its error count.
    pub fn new(
        start_s: f64,
        duration_s: f64,
        hist: &hdrhistogram::Histogram<u64>,
        errors: u64,
    ) -> IntervalRecord {
        IntervalRecord {
            start_s,
            duration_s,
            requests: hist.len(),
            errors,
            latency_us: LatencySummary::from_histogram(hist),
            histogram: Packed::pack(hist),
            connections_opened: 0,
            connections_lost: 0,
        }
    }
}

impl Histograms {
    /// Only a corrected distribution (an interval log carries no more).
    pub fn corrected_only(corrected: Hist) -> Histograms {
        Histograms {
            encoding: histogram::ENCODING.to_string(),
            corrected,
            uncorrected: None,
            warmup: None,
            schedule_lag: None,
        }
    }
}

/// A report with the figures every result has, computed from its histograms; the rest empty
/// for the caller (a run, a merge, a log reader) to fill in.
pub(crate) fn skeleton(
    origin: Origin,
    histograms: Histograms,
    duration_s: f64,
    measure_start_unix_s: f64,
    intervals: Vec<IntervalRecord>,
) -> Report {
    let requests = histograms.corrected.0.len();
    let throughput_rps = if duration_s > 0.0 {
        requests as f64 / duration_s
    } else {
        0.0
    };
    Report {
        format: FORMAT.to_string(),
        throughput_rps,
        requests,
        errors: 0,
        duration_s,
        latency_us: LatencySummary::from_histogram(&histograms.corrected.0),
        latency_uncorrected_us: histograms
            .uncorrected
            .as_ref()
            .and_then(|h| LatencySummary::from_histogram(&h.0)),
        outcome: if requests > 0 {
            Outcome::Completed
        } else {
            Outcome::CutShort(CutShort::NoReplies)
        },
        errors_by_kind: ErrorCounts::default(),
        warnings: Vec::new(),
        mode: None,
        target: String::new(),
        embedded_server: false,
        open_loop: None,
        warmup: None,
        driver: DriverSummary::default(),
        server: None,
        kernel: None,
        profile: None,
        storm: None,
        slo: None,
        server_cpu: None,
        confidence: None,
        diagnosis: Vec::new(),
        started_unix_s: measure_start_unix_s,
        measure_start_unix_s,
        origin,
        histograms,
        intervals,
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::config::BenchConfig;
    use crate::recorder::new_histogram;

    /// A run's report holding `values` (ns), one interval per `per_interval` values.
    fn report_of(values: &[u64], per_interval: usize, start: f64) -> Report {
        let mut all = new_histogram();
        let mut intervals = Vec::new();
        for (i, chunk) in values.chunks(per_interval.max(1)).enumerate() {
            let mut h = new_histogram();
            for &v in chunk {
                h.record(v).unwrap();
                all.record(v).unwrap();
            }
            intervals.push(IntervalRecord::new(i as f64, 1.0, &h, 0));
        }
        let histograms = Histograms {
            uncorrected: Some(Hist(all.clone())),
            ..Histograms::corrected_only(Hist(all))
        };
        let manifest = Box::new(Manifest::new(&BenchConfig::default(), vec!["nines".into()]));
        let n = intervals.len() as f64;
        let mut r = skeleton(Origin::Run { manifest }, histograms, n, start, intervals);
        r.target = "127.0.0.1:9999".into();
        r
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn a_report_survives_json_and_merging_it_with_itself_doubles_counts_not_percentiles(
            values in prop::collection::vec(1u64..60_000_000_000, 1..400),
            per_interval in 1usize..50,
        ) {
            let r = report_of(&values, per_interval, 1_700_000_000.0);
            let text = serde_json::to_string(&r).unwrap();
            let back: Report = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&back, &r);
            prop_assert_eq!(render(&back, Format::Text), render(&r, Format::Text));

            let m = merge(vec![("a.json".into(), r.clone()), ("a.json".into(), back)]).unwrap();
            prop_assert_eq!(m.requests, 2 * r.requests);
            prop_assert_eq!(m.latency_us, r.latency_us);
            prop_assert_eq!(m.latency_uncorrected_us, r.latency_uncorrected_us);
            prop_assert_eq!(m.intervals.len(), r.intervals.len());
            for (mi, ri) in m.intervals.iter().zip(&r.intervals) {
                prop_assert_eq!(mi.requests, 2 * ri.requests);
                prop_assert_eq!(mi.latency_us, ri.latency_us);
            }
            // Same window twice: twice the replies in the same time.
            prop_assert!((m.throughput_rps - 2.0 * r.throughput_rps).abs() < 1e-6 * m.throughput_rps.max(1.0));
        }
    }

    #[test]
    fn merged_percentiles_are_true_percentiles_not_averages() {
        // One part: 99 fast replies; another: 1 very slow one. Averaging the parts' p99s would
        // be wrong; the merged p99 comes from all 100 values.
        let fast = report_of(&[10_000; 99], 60, 1_700_000_000.0);
        let slow = report_of(&[900_000_000], 60, 1_700_000_000.5);
        let m = merge(vec![("fast".into(), fast), ("slow".into(), slow)]).unwrap();
        let l = m.latency_us.unwrap();
        assert_eq!(m.requests, 100);
        assert!(l.p99 < 11.0, "p99 {} µs", l.p99);
        assert!(l.max > 899_000.0);
        assert!(matches!(&m.origin, Origin::Merged { parts } if parts.len() == 2));
    }

    #[test]
    fn results_that_never_overlapped_or_loaded_different_targets_say_so() {
        let a = report_of(&[10_000; 10], 5, 1_700_000_000.0);
        let mut b = report_of(&[10_000; 10], 5, 1_700_000_100.0);
        b.target = "10.0.0.2:9999".into();
        let m = merge(vec![("a".into(), a), ("b".into(), b)]).unwrap();
        let kinds: Vec<String> = m.warnings.iter().map(|c| c.finding.kind()).collect();
        assert!(
            kinds.contains(&"merged_runs_apart".to_string()),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&"merged_different_loads".to_string()),
            "{kinds:?}"
        );
    }
}
