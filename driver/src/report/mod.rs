//! The report: one value per run, built once from the merged measurements, rendered by every
//! output (terminal text, JSON, and later CSV, Markdown, .hgrm, SVG).
//!
//! The JSON keys DESIGN.md promises (`throughput_rps`, `requests`, `errors`, `duration_s`,
//! `latency_us{min,mean,p50,p75,p90,p95,p99,p99_9,p99_99,max}`) are fields here, so a renamed
//! field is a compile error in the tests, not a silent change in a user's pipeline.

pub mod hgrm;
pub mod hlog;
mod json;
pub mod text;

pub use json::{to_json, write_json};
pub use text::{render_merge_text, render_text};

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::config::BenchConfig;
use crate::host::HostInfo;

/// Latency percentiles in microseconds (recorded in nanoseconds, so fractions are real).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Default)]
#[allow(missing_docs)] // The field names are the percentile names.
pub struct LatencySummary {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub p99_99: f64,
    pub max: f64,
}

impl LatencySummary {
    /// Summarises a nanosecond histogram (all zeros when it is empty).
    pub fn from_histogram(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let us = |ns: u64| round3(ns as f64 / 1000.0);
        LatencySummary {
            min: us(h.min()),
            mean: round3(h.mean() / 1000.0),
            p50: us(h.value_at_quantile(0.50)),
            p75: us(h.value_at_quantile(0.75)),
            p90: us(h.value_at_quantile(0.90)),
            p95: us(h.value_at_quantile(0.95)),
            p99: us(h.value_at_quantile(0.99)),
            p99_9: us(h.value_at_quantile(0.999)),
            p99_99: us(h.value_at_quantile(0.9999)),
            max: us(h.max()),
        }
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// How the run ended.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Ran as planned.
    Completed,
    /// Stopped early (interrupted, error limit, connections lost): figures cover what was
    /// measured until then.
    CutShort,
}

/// Warm-up figures, kept apart from the measurement.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WarmupSummary {
    /// Replies recorded during warm-up.
    pub requests: u64,
    /// Warm-up length in seconds.
    pub duration_s: f64,
    /// Warm-up latency.
    pub latency_us: LatencySummary,
}

/// The driver's own side of the run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DriverSummary {
    /// Driver threads used.
    pub threads: usize,
    /// Connections asked for.
    pub connections: usize,
    /// Connections established.
    pub connections_opened: u64,
    /// Established connections lost before the end.
    pub connections_lost: u64,
    /// Seconds until every connection was established (or gave up): the slowest thread's.
    pub connect_s: f64,
    /// Each thread's CPU time as a percentage of its wall time while loading.
    pub thread_cpu_pct: Vec<f64>,
    /// The same without time spent spinning idle for the next due request (open loop). Near 100
    /// means that thread, not the server, may have limited the result.
    pub thread_busy_pct: Vec<f64>,
}

/// Open-loop figures: what was asked, what was achieved, how late the driver was.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OpenLoopSummary {
    /// The requested rate (--rate).
    pub requested_rps: f64,
    /// Replies per second actually measured.
    pub achieved_rps: f64,
    /// Arrival process.
    pub arrival: crate::schedule::Arrival,
    /// Seed of the arrival process.
    pub seed: u64,
    /// How late the driver sent due requests (actual send minus due time, when a slot was free).
    pub schedule_lag_us: LatencySummary,
}

/// One run's results.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Measured replies per second.
    pub throughput_rps: f64,
    /// Measured replies (errors excluded).
    pub requests: u64,
    /// All errors, warm-up included.
    pub errors: u64,
    /// Seconds from the start of measurement to the last measured reply.
    pub duration_s: f64,
    /// Measured latency, corrected for coordinated omission: from each request's intended send
    /// time (in closed loop, intended and actual send are the same).
    pub latency_us: LatencySummary,
    /// Latency from each request's actual send, as a closed-loop tool would report it.
    pub latency_uncorrected_us: LatencySummary,
    /// Reasons these figures may not measure the target alone (see the self-checks).
    pub warnings: Vec<String>,
    /// Open-loop figures, when the run was open loop.
    pub open_loop: Option<OpenLoopSummary>,
    /// Errors by kind (only kinds that occurred).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// completed or cut_short.
    pub status: Status,
    /// Why the run was cut short, if it was.
    pub cut_short_reason: Option<String>,
    /// Load model: `closed_loop` or `open_loop`.
    pub mode: &'static str,
    /// The address loaded.
    pub target: String,
    /// Whether the server was started in-process by the driver.
    pub embedded_server: bool,
    /// Warm-up figures.
    pub warmup: WarmupSummary,
    /// Driver-side facts.
    pub driver: DriverSummary,
    /// The embedded server's counters at the end, when there was one.
    pub server: Option<BTreeMap<String, u64>>,
    /// The run's configuration.
    pub config: BenchConfig,
    /// The driver's machine.
    pub host: HostInfo,
    /// Kernel TCP counters' change during the run (this machine's kernel).
    pub kernel: crate::kernel::KernelDelta,
    /// nines version that produced this report.
    pub nines_version: &'static str,
    /// Wall-clock start, seconds since the Unix epoch.
    pub started_unix_s: f64,
    /// The merged corrected histogram (nanoseconds), for .hgrm output and merging.
    #[serde(skip)]
    pub histogram: Histogram<u64>,
}

impl Report {
    /// Whether the run went as planned.
    pub fn completed(&self) -> bool {
        self.status == Status::Completed
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to disk,
/// then renamed over `path`, so a reader never sees half a report and an interrupted write never
/// destroys the previous one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "output path has no file name",
        )
    })?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::new_histogram;

    #[test]
    fn summary_is_in_microseconds_and_ordered() {
        let mut h = new_histogram();
        for v in 1..=10_000u64 {
            h.record(v * 1000).unwrap();
        }
        let s = LatencySummary::from_histogram(&h);
        assert!((s.min - 1.0).abs() < 0.01);
        assert!((s.p50 - 5000.0).abs() / 5000.0 < 0.001);
        assert!((s.p99 - 9900.0).abs() / 9900.0 < 0.001);
        let v = [
            s.min, s.p50, s.p75, s.p90, s.p95, s.p99, s.p99_9, s.p99_99, s.max,
        ];
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(
            LatencySummary::from_histogram(&new_histogram()),
            LatencySummary::default()
        );
    }

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("nines-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("r.json");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(write_atomic(&dir.join("missing-dir").join("x.json"), b"x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
