//! The results layer: one [`Report`] value per result, built once from the merged measurements
//! of a run (or by adding results together), saved as JSON, read back, merged, and rendered by
//! every output — terminal text, Markdown, CSV, `.hgrm`, `.hlog`, JSON, SVG plots and the report
//! directory all render this one value. A sweep is one [`sweep::Sweep`] value whose steps are
//! Reports; [`load`] reads either.
//!
//! A saved report is complete: besides the figures (`throughput_rps`, `requests`, `errors`,
//! `duration_s`, `latency_us{min,mean,p50,p75,p90,p95,p99,p99_9,p99_99,max}`, the keys
//! DESIGN.md promises) it carries its corrected, uncorrected, warm-up and schedule-lag
//! histograms, one histogram per second of measurement, typed self-checks, the load and what
//! its model measured, and a manifest of the build, configuration and host. Results saved by
//! earlier versions (nines-report/1) are converted as they are read.

pub mod by_request;
pub mod checks;
pub mod confidence;
pub mod diagnosis;
pub mod dir;
mod files;
pub mod flame;
pub mod histogram;
mod interval;
mod load;
pub mod manifest;
mod merge;
mod origin;
mod outcome;
pub mod plot;
pub mod render;
pub mod resources;
mod same_run;
mod sections;
pub mod server_cpu;
pub mod slo;
mod sniff;
pub mod stages;
pub mod storm;
mod summary;
pub mod sweep;
pub mod tls;
mod v1;

pub use checks::{Check, Finding};
pub use files::{is_special, probe_dir, write_atomic};
pub use interval::IntervalRecord;
pub use load::{
    load, load_report, parse, LoadError, Loaded, ParseError, MAX_RESULT_BYTES, SWEEP_NOT_RUN,
};
pub use merge::{merge, MergeError};
pub use origin::{Origin, Part};
pub use outcome::{CutShort, Outcome};
pub use render::{render, Format};
pub use same_run::Repeat;
pub(crate) use sections::add_counts;
pub use sections::{
    DriverSummary, LoadSummary, Model, OpenLoopSummary, ProfileSummary, Transfer, WarmupSummary,
};
pub use storm::StormSummary;
pub use summary::LatencySummary;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::errors::ErrorCounts;
use crate::host::KernelDelta;
use histogram::Hist;
use manifest::Manifest;

/// The `format` of reports this nines writes (and reads; `nines-report/1` is converted).
pub const FORMAT: &str = "nines-report/2";

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
    /// The driver's lateness against due times: an open loop's schedule lag, a storm's send lag.
    pub schedule_lag: Option<Hist>,
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
    /// The load model, and what it measured besides latency.
    pub load: LoadSummary,
    /// Bytes moved during the measurement (none in results saved before nines counted them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Transfer>,
    /// The address loaded.
    pub target: String,
    /// Whether the server was started in-process by the driver.
    pub embedded_server: bool,
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
    /// The server's CPU during the run (from /proc, when it is on this machine, or from its
    /// Stats replies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu: Option<server_cpu::ServerCpu>,
    /// A TLS run's handshakes: measured apart from the TCP connect, full and resumed, their
    /// CPU, whether certificates were verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<tls::TlsSummary>,
    /// 95% confidence intervals of the percentiles by batch means over the seconds, and where
    /// the run is too short for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<confidence::Confidence>,
    /// Results per line of a request mix (none for a run of one request).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_request: Vec<by_request::RequestResult>,
    /// What the target and the driver held over the run, and whether it grew (none without
    /// three seconds of readings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<resources::ResourceSummary>,
    /// The target's flame graph over the measured window (`--flame`), or why none was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flame: Option<flame::Flame>,
    /// A staged open loop's results stage by stage (none for a steady rate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<stages::StageResult>,
    /// What limited the run, each claim with its evidence.
    #[serde(default)]
    pub diagnosis: Vec<diagnosis::Limit>,
    /// The `--slo` gate's verdict, when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<slo::Gate>,
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
        load: LoadSummary::Unknown,
        transfer: None,
        target: String::new(),
        embedded_server: false,
        warmup: None,
        driver: DriverSummary::default(),
        server: None,
        kernel: None,
        profile: None,
        slo: None,
        server_cpu: None,
        tls: None,
        confidence: None,
        by_request: Vec::new(),
        stages: Vec::new(),
        resources: None,
        flame: None,
        diagnosis: Vec::new(),
        started_unix_s: measure_start_unix_s,
        measure_start_unix_s,
        origin,
        histograms,
        intervals,
    }
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
        r.load = LoadSummary::ClosedLoop;
        r.target = "127.0.0.1:9999".into();
        r
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn a_report_survives_json_and_merging_it_with_a_twin_doubles_counts_not_percentiles(
            values in prop::collection::vec(1u64..60_000_000_000, 1..400),
            per_interval in 1usize..50,
        ) {
            let r = report_of(&values, per_interval, 1_700_000_000.0);
            let text = serde_json::to_string(&r).unwrap();
            let back: Report = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&back, &r);
            prop_assert_eq!(render(&back, Format::Text), render(&r, Format::Text));

            // The run and its copy are one run: refused, not doubled.
            let again = merge(vec![("a.json".into(), r.clone()), ("copy.json".into(), back)]);
            prop_assert!(matches!(again, Err(MergeError::SameRun(_))));

            // A twin (another run with the same latencies in the same seconds) doubles.
            let mut twin = r.clone();
            if let Origin::Run { manifest } = &mut twin.origin {
                manifest.run_id = "twin".into();
            }
            let m = merge(vec![("a.json".into(), r.clone()), ("b.json".into(), twin)]).unwrap();
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
    fn one_run_merged_twice_is_refused_however_it_comes() {
        let a = report_of(&[10_000; 10], 5, 1_700_000_000.0);
        let b = report_of(&[20_000; 10], 5, 1_700_000_000.5);
        let ab = merge(vec![("a".into(), a.clone()), ("b".into(), b.clone())]).unwrap();
        let refused = |parts: Vec<(&str, Report)>| {
            let named = parts.into_iter().map(|(f, r)| (f.to_string(), r)).collect();
            match merge(named) {
                Err(MergeError::SameRun(r)) => format!("{} {} {}", r.first, r.second, r.why),
                other => panic!("{other:?}"),
            }
        };
        assert!(
            refused(vec![("a", a.clone()), ("b", b.clone()), ("a2", a.clone())])
                .starts_with("a a2 the same run id")
        );
        assert!(refused(vec![("ab", ab.clone()), ("b", b.clone())]).starts_with("ab b both hold"));
        assert!(refused(vec![("ab", ab.clone()), ("ab2", ab)]).starts_with("ab ab2"));
        // A storm's processes: one manifest but for the run id, one start instant. Two runs.
        let mut twin = a.clone();
        if let Origin::Run { manifest } = &mut twin.origin {
            manifest.run_id = "0123456789abcdef".into();
        }
        assert!(merge(vec![("a".into(), a.clone()), ("twin".into(), twin)]).is_ok());

        // Its interval log: no manifest, but the same latencies from the same instant.
        let log = render(&a, Format::Hlog);
        let Loaded::Report(log) = parse(log.as_bytes(), "a.hlog").unwrap() else {
            panic!("a log is one result")
        };
        assert!(
            refused(vec![("a", a.clone()), ("a.hlog", (*log).clone())]).contains("count for count")
        );
        // Another run's log merges.
        let log_b = render(&b, Format::Hlog);
        let Loaded::Report(log_b) = parse(log_b.as_bytes(), "b.hlog").unwrap() else {
            panic!("a log is one result")
        };
        assert_eq!(
            merge(vec![("a".into(), a), ("b.hlog".into(), *log_b)])
                .unwrap()
                .requests,
            20
        );
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
