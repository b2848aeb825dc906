//! Latency recording: one set of histograms per driver thread, merged when the run ends.
//!
//! Values are nanoseconds, tracked from 1 ns to 60 s at 3 significant digits (0.1% resolution
//! everywhere in that range), so a 20 µs loopback round trip and a 30 s stall are both exact to
//! the reported precision. The bounds are fixed up front so recording never allocates; a value
//! past 60 s is clamped to 60 s rather than lost.

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

/// One thread's histograms.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Latencies of requests due inside the measurement window.
    pub measured: Histogram<u64>,
    /// Latencies of warm-up requests: measured separately, reported, never mixed in.
    pub warmup: Histogram<u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            measured: new_histogram(),
            warmup: new_histogram(),
        }
    }
}

impl Recorder {
    /// Records one latency.
    #[inline]
    pub fn record(&mut self, latency_ns: u64, warmup: bool) {
        let h = if warmup {
            &mut self.warmup
        } else {
            &mut self.measured
        };
        h.saturating_record(latency_ns.clamp(1, MAX_LATENCY_NS));
    }

    /// Adds another thread's recordings to these.
    pub fn merge(&mut self, other: &Recorder) {
        // Same bounds on both sides, so `add` cannot fail.
        self.measured
            .add(&other.measured)
            .expect("histograms share bounds");
        self.warmup
            .add(&other.warmup)
            .expect("histograms share bounds");
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
            a.record(10_000, false);
        }
        b.record(5_000_000, false);
        b.record(1, true);
        a.merge(&b);
        assert_eq!(a.measured.len(), 100);
        assert_eq!(a.warmup.len(), 1);
        assert!(a.measured.value_at_quantile(0.99) < 11_000);
        assert!(a.measured.max() >= 4_990_000);
    }

    #[test]
    fn huge_values_are_clamped_not_lost() {
        let mut r = Recorder::default();
        r.record(u64::MAX, false);
        r.record(0, false);
        assert_eq!(r.measured.len(), 2);
        assert!(r.measured.max() >= MAX_LATENCY_NS - MAX_LATENCY_NS / 1000);
    }
}
