//! HdrHistogram's percentile-distribution text format (`.hgrm`), as Java's
//! `outputPercentileDistribution` writes it, so HdrHistogram's plotter and the tools built
//! around wrk2 output read it unchanged. Values are written in milliseconds (recorded in ns).

use std::fmt::Write;

use hdrhistogram::Histogram;

/// Recorded nanoseconds per written unit (milliseconds).
pub const NS_PER_UNIT: f64 = 1e6;

/// The distribution as `.hgrm` text (5 ticks per half-distance, like HdrHistogram's default).
pub fn render(h: &Histogram<u64>) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(5) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / NS_PER_UNIT;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    s,
                    "{value:12.3} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(s, "{value:12.3} {q:2.12} {total:10}");
            }
        }
    }
    let _ = writeln!(
        s,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / NS_PER_UNIT,
        h.stdev() / NS_PER_UNIT
    );
    let _ = writeln!(
        s,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        h.max() as f64 / NS_PER_UNIT,
        h.len()
    );
    let _ = writeln!(
        s,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::new_histogram;

    #[test]
    fn rows_are_cumulative_and_end_at_the_max() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1_000_000).unwrap(); // 1 .. 1000 ms
        }
        let text = render(&h);
        let rows: Vec<Vec<f64>> = text
            .lines()
            .skip(2)
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().map(|x| x.parse().unwrap()).collect())
            .collect();
        assert!(rows.len() > 20);
        assert!(rows
            .windows(2)
            .all(|w| w[0][0] <= w[1][0] && w[0][1] <= w[1][1] && w[0][2] <= w[1][2]));
        let last = rows.last().unwrap();
        assert_eq!(last[1], 1.0);
        assert_eq!(last[2], 1000.0);
        assert!((last[0] - 1000.0).abs() < 1.0, "max in ms: {}", last[0]);
        assert!(text.contains("Total count    =         1000]"));
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
    }
}
