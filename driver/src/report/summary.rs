//! Latency percentiles in microseconds: the figures a report leads with, computed from a
//! histogram recorded in nanoseconds (so fractions of a microsecond are real).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
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
    /// Summarises a nanosecond histogram; `None` when it is empty (an empty histogram has no
    /// percentiles, and a report never shows zeros for them).
    pub fn from_histogram(h: &Histogram<u64>) -> Option<LatencySummary> {
        if h.is_empty() {
            return None;
        }
        let us = |ns: u64| round3(ns as f64 / 1000.0);
        Some(LatencySummary {
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
        })
    }

    /// The percentiles with their names, in order, for tables.
    pub fn named(&self) -> [(&'static str, f64); 10] {
        [
            ("min", self.min),
            ("mean", self.mean),
            ("p50", self.p50),
            ("p75", self.p75),
            ("p90", self.p90),
            ("p95", self.p95),
            ("p99", self.p99),
            ("p99.9", self.p99_9),
            ("p99.99", self.p99_99),
            ("max", self.max),
        ]
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
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
        let s = LatencySummary::from_histogram(&h).unwrap();
        assert!((s.min - 1.0).abs() < 0.01);
        assert!((s.p50 - 5000.0).abs() / 5000.0 < 0.001);
        assert!((s.p99 - 9900.0).abs() / 9900.0 < 0.001);
        let v: Vec<f64> = s
            .named()
            .iter()
            .filter(|(n, _)| *n != "mean")
            .map(|(_, v)| *v)
            .collect();
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(LatencySummary::from_histogram(&new_histogram()), None);
    }
}
