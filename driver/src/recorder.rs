//! Latency recording: one set of histograms per driver thread, merged when the run ends.
//!
//! Values are nanoseconds, tracked from 1 ns to 60 s at 3 significant digits (0.1% resolution
//! everywhere in that range), so a 20 µs loopback round trip and a 30 s stall are both exact to
//! the reported precision. The bounds are fixed up front so recording never allocates; a value
//! past 60 s is clamped to 60 s rather than lost.
//!
//! Three measurements per reply, kept apart:
//! - corrected latency: reply time minus the request's *intended* send time (the schedule's), so
//!   a stalled server is charged for every request that fell due during the stall;
//! - uncorrected latency: reply time minus the time the request was actually written, which is
//!   what a closed-loop tool reports, kept for comparison;
//! - schedule lag: how late the driver itself got to a due request (open loop only); when this
//!   grows, the driver, not the server, is the bottleneck.

use hdrhistogram::Histogram;

/// Largest latency tracked: 60 s in nanoseconds.
pub const MAX_LATENCY_NS: u64 = 60_000_000_000;
/// Significant digits kept.
pub const SIGFIGS: u8 = 3;

/// A histogram with the driver's bounds.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy the crate's preconditions (low >= 1, high >= 2 * low,
    // sigfig <= 5), so creation cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, SIGFIGS)
        .expect("constant histogram bounds are valid")
}

#[inline]
fn put(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record(ns.clamp(1, MAX_LATENCY_NS));
}

/// One thread's histograms.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Corrected latencies of requests due inside the measurement window.
    pub measured: Histogram<u64>,
    /// Uncorrected latencies (from the actual send) of the same requests.
    pub uncorrected: Histogram<u64>,
    /// Corrected latencies of warm-up requests: measured separately, reported, never mixed in.
    pub warmup: Histogram<u64>,
    /// How late the driver sent each due request (open loop).
    pub lag: Histogram<u64>,
    /// Corrected latencies of the current interval (for progress and interval logs).
    pub interval: Histogram<u64>,
    /// Each line's own, when requests are drawn from a mix of more than one (else empty).
    pub lines: Vec<LineRecord>,
    /// A staged run's: each stage's corrected latencies, of the requests due in it (else
    /// empty), and where each stage ends, ns after the start of measurement.
    pub stages: Vec<Histogram<u64>>,
    stage_ends_ns: Vec<u64>,
}

/// What one line of a mix recorded.
#[derive(Debug, Clone)]
pub struct LineRecord {
    /// Corrected latencies of its measured replies.
    pub measured: Histogram<u64>,
    /// Its requests answered wrongly or rejected.
    pub errors: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            measured: new_histogram(),
            uncorrected: new_histogram(),
            warmup: new_histogram(),
            lag: new_histogram(),
            interval: new_histogram(),
            lines: Vec::new(),
            stages: Vec::new(),
            stage_ends_ns: Vec::new(),
        }
    }
}

impl Recorder {
    /// A recorder for requests drawn from `lines` lines (one: nothing kept per line).
    pub fn with_lines(lines: usize) -> Recorder {
        let record = || LineRecord {
            measured: new_histogram(),
            errors: 0,
        };
        Recorder {
            lines: if lines > 1 {
                (0..lines).map(|_| record()).collect()
            } else {
                Vec::new()
            },
            ..Recorder::default()
        }
    }

    /// The same recorder keeping a histogram per stage, the stages ending at `ends_ns` (ns
    /// after the start of measurement, in order; none: no stages).
    pub fn with_stages(self, ends_ns: Vec<u64>) -> Recorder {
        Recorder {
            stages: ends_ns.iter().map(|_| new_histogram()).collect(),
            stage_ends_ns: ends_ns,
            ..self
        }
    }

    /// Records a measured reply's corrected latency for the stage its request was due in,
    /// `due_ns` after the start of measurement (when stages are kept).
    #[inline]
    pub fn record_stage(&mut self, due_ns: u64, corrected_ns: u64) {
        if self.stages.is_empty() {
            return;
        }
        let i = self.stage_ends_ns.partition_point(|&end| end <= due_ns);
        let last = self.stages.len() - 1;
        put(&mut self.stages[i.min(last)], corrected_ns);
    }

    /// Records a measured reply's corrected latency for its line (when lines are kept).
    #[inline]
    pub fn record_line(&mut self, line: u16, corrected_ns: u64) {
        if let Some(l) = self.lines.get_mut(usize::from(line)) {
            put(&mut l.measured, corrected_ns);
        }
    }

    /// Counts a request of `line` answered wrongly or rejected (when lines are kept).
    #[inline]
    pub fn line_error(&mut self, line: u16) {
        if let Some(l) = self.lines.get_mut(usize::from(line)) {
            l.errors += 1;
        }
    }

    /// Records one reply: `corrected_ns` from its intended send, `uncorrected_ns` from its send.
    #[inline]
    pub fn record(&mut self, corrected_ns: u64, uncorrected_ns: u64, warmup: bool) {
        if warmup {
            put(&mut self.warmup, corrected_ns);
        } else {
            put(&mut self.measured, corrected_ns);
            put(&mut self.uncorrected, uncorrected_ns);
            put(&mut self.interval, corrected_ns);
        }
    }

    /// Records how late the driver got to a due request.
    #[inline]
    pub fn record_lag(&mut self, lag_ns: u64) {
        put(&mut self.lag, lag_ns);
    }

    /// Takes the current interval's histogram, leaving an empty one.
    pub fn take_interval(&mut self) -> Histogram<u64> {
        let h = self.interval.clone();
        self.interval.reset();
        h
    }

    /// Adds another thread's recordings to these (intervals are merged elsewhere, as they come).
    pub fn merge(&mut self, other: &Recorder) {
        // Same bounds on every side, so `add` cannot fail.
        for (mine, theirs) in [
            (&mut self.measured, &other.measured),
            (&mut self.uncorrected, &other.uncorrected),
            (&mut self.warmup, &other.warmup),
            (&mut self.lag, &other.lag),
        ] {
            mine.add(theirs).expect("histograms share bounds");
        }
        if self.lines.len() < other.lines.len() {
            self.lines.resize(other.lines.len(), other.lines[0].clone());
            for l in &mut self.lines {
                l.measured.reset();
                l.errors = 0;
            }
        }
        if self.stages.is_empty() && !other.stages.is_empty() {
            self.stage_ends_ns.clone_from(&other.stage_ends_ns);
            self.stages = other.stages.iter().map(|_| new_histogram()).collect();
        }
        for (mine, theirs) in self.stages.iter_mut().zip(&other.stages) {
            mine.add(theirs).expect("histograms share bounds");
        }
        for (mine, theirs) in self.lines.iter_mut().zip(&other.lines) {
            mine.measured
                .add(&theirs.measured)
                .expect("histograms share bounds");
            mine.errors += theirs.errors;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_gives_true_percentiles_not_averages() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        for _ in 0..99 {
            a.record(10_000, 10_000, false);
        }
        b.record(5_000_000, 20_000, false);
        b.record(1, 1, true);
        b.record_lag(3_000);
        a.merge(&b);
        assert_eq!(a.measured.len(), 100);
        assert_eq!(a.uncorrected.len(), 100);
        assert_eq!(a.warmup.len(), 1);
        assert_eq!(a.lag.len(), 1);
        assert!(a.measured.value_at_quantile(0.99) < 11_000);
        assert!(a.measured.max() >= 4_990_000);
        assert!(a.uncorrected.max() < 21_000);
    }

    #[test]
    fn huge_values_are_clamped_not_lost_and_intervals_reset() {
        let mut r = Recorder::default();
        r.record(u64::MAX, u64::MAX, false);
        r.record(0, 0, false);
        assert_eq!(r.measured.len(), 2);
        assert!(r.measured.max() >= MAX_LATENCY_NS - MAX_LATENCY_NS / 1000);
        assert_eq!(r.take_interval().len(), 2);
        assert_eq!(r.interval.len(), 0);
    }
}
