//! How far to trust each percentile of one run: a 95% confidence interval by batch means (as
//! Lancet does) — each full second of measurement is a batch, its percentile one observation;
//! the interval is the batches' mean ± t(0.975, B−1) × their standard deviation / √B — and a
//! plain statement when the run is too short for a percentile: fewer than 10 replies beyond it
//! (a p99.99 needs 100,000 replies), or fewer than 5 whole seconds to batch.

use serde::{Deserialize, Serialize};

use super::IntervalRecord;

/// Percentiles given an interval, by name and quantile.
const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
];
/// Fewest batches (whole seconds) for an interval.
const MIN_BATCHES: usize = 5;
/// Fewest replies beyond a percentile for it to mean anything.
const MIN_BEYOND: f64 = 10.0;
/// A second shorter than this is not a whole batch (the last one is usually short).
const MIN_BATCH_S: f64 = 0.9;

/// One percentile's interval, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PercentileCi {
    /// `p99.9`.
    pub name: String,
    /// Replies beyond this percentile in the whole run.
    pub beyond: f64,
    /// 95% interval of the per-second percentile, µs (none when it cannot be given).
    pub low_us: Option<f64>,
    /// Upper end.
    pub high_us: Option<f64>,
    /// Half the interval as a share of the batches' mean, percent.
    pub half_width_pct: Option<f64>,
    /// Why there is no interval, if there is none.
    pub too_short: Option<String>,
}

/// The intervals of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    /// Whole seconds used as batches.
    pub batches: usize,
    /// Each percentile.
    pub percentiles: Vec<PercentileCi>,
}

/// The confidence of a run with `requests` measured replies over `intervals`.
pub fn confidence(requests: u64, intervals: &[IntervalRecord]) -> Confidence {
    let batches: Vec<hdrhistogram::Histogram<u64>> = intervals
        .iter()
        .filter(|iv| iv.duration_s >= MIN_BATCH_S && iv.requests > 0)
        .filter_map(|iv| iv.histogram.unpack().ok())
        .collect();
    let b = batches.len();
    let percentiles = PERCENTILES
        .iter()
        .map(|&(name, q)| {
            let beyond = requests as f64 * (1.0 - q);
            let none = |why: String| PercentileCi {
                name: name.to_string(),
                beyond,
                low_us: None,
                high_us: None,
                half_width_pct: None,
                too_short: Some(why),
            };
            if beyond < MIN_BEYOND {
                return none(format!(
                    "too few replies: {beyond:.1} beyond {name} (it needs {:.0} replies for 10)",
                    MIN_BEYOND / (1.0 - q)
                ));
            }
            if b < MIN_BATCHES {
                return none(format!(
                    "too short: {b} whole second(s) to batch, {MIN_BATCHES} needed"
                ));
            }
            let per: Vec<f64> = batches
                .iter()
                .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
                .collect();
            let mean = per.iter().sum::<f64>() / b as f64;
            let var = per.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (b - 1) as f64;
            let half = t975(b - 1) * var.sqrt() / (b as f64).sqrt();
            PercentileCi {
                name: name.to_string(),
                beyond,
                low_us: Some((mean - half).max(0.0)),
                high_us: Some(mean + half),
                half_width_pct: (mean > 0.0).then(|| 100.0 * half / mean),
                too_short: None,
            }
        })
        .collect();
    Confidence {
        batches: b,
        percentiles,
    }
}

/// Student's t, 97.5th percentile, for `df` degrees of freedom.
fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        31..=60 => 2.0,
        _ => 1.96,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::new_histogram;

    fn second(values: &[u64]) -> IntervalRecord {
        let mut h = new_histogram();
        for &v in values {
            h.record(v).unwrap();
        }
        IntervalRecord::new(0.0, 1.0, &h, 0)
    }

    #[test]
    fn steady_seconds_give_a_narrow_interval_and_short_runs_say_so() {
        let secs: Vec<IntervalRecord> = (0..10)
            .map(|i| second(&vec![100_000 + i * 100; 1000]))
            .collect();
        let c = confidence(10_000, &secs);
        assert_eq!(c.batches, 10);
        let p50 = &c.percentiles[0];
        assert!(p50.half_width_pct.unwrap() < 1.0, "{p50:?}");
        assert!(
            p50.low_us.unwrap() <= 100.5 && p50.high_us.unwrap() >= 100.3,
            "{p50:?}"
        );
        let p9999 = &c.percentiles[4];
        assert!(
            p9999
                .too_short
                .as_deref()
                .unwrap()
                .contains("too few replies"),
            "{p9999:?}"
        );
        let short = confidence(10_000, &secs[..3]);
        assert!(short.percentiles[0]
            .too_short
            .as_deref()
            .unwrap()
            .contains("too short"));
    }
}
