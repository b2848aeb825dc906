//! The latency percentile spectrum: a log axis of 1/(1−q), labelled 90%, 99%, 99.9% … as
//! HdrHistogram's plotter draws it, corrected and uncorrected latencies together.

use plotters::prelude::*;

use super::chart::count_label;
use super::chart::{err, log_y_chart, Axis, Res};
use crate::report::Report;

/// Deepest percentile drawn on the spectrum: 99.9999%.
const MAX_NINES: f64 = 6.0;

/// `x = −log10(1 − q)` back to a percentile label: 0 → 0%, 1 → 90%, 2 → 99%, 3 → 99.9% ...
fn nines_label(x: &f64) -> String {
    let q = 1.0 - 10f64.powf(-x);
    if *x < 0.5 {
        "0%".into()
    } else {
        let digits = (x.round() as usize).saturating_sub(2);
        format!("{:.*}%", digits, q * 100.0)
    }
}

/// (−log10(1 − q), latency µs) from p0 to as many nines as the replies support.
fn spectrum_points(h: &hdrhistogram::Histogram<u64>) -> Vec<(f64, f64)> {
    let top = (h.len() as f64).log10().min(MAX_NINES);
    (0..=(top * 20.0) as usize)
        .map(|i| {
            let x = i as f64 / 20.0;
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

/// The latency percentile spectrum, corrected and (when present) uncorrected.
pub fn spectrum(r: &Report) -> Res {
    let series: Vec<(&str, &hdrhistogram::Histogram<u64>, RGBColor)> = [
        Some((
            "corrected (from intended send time)",
            &r.histograms.corrected.0,
            RED,
        )),
        r.histograms
            .uncorrected
            .as_ref()
            .map(|h| ("uncorrected (from actual send time)", &h.0, BLUE)),
    ]
    .into_iter()
    .flatten()
    .filter(|(_, h, _)| !h.is_empty())
    .collect();
    if series.is_empty() {
        return Err("plot: no replies were measured, so there is no spectrum".into());
    }
    let all: Vec<Vec<(f64, f64)>> = series.iter().map(|(_, h, _)| spectrum_points(h)).collect();
    let x_max = all
        .iter()
        .flat_map(|p| p.iter().map(|v| v.0))
        .fold(1.0, f64::max);
    // A log latency axis: the body (p50, often tens of µs) and a tail of milliseconds both
    // stay readable; a linear one flattens the body onto the x axis.
    let values = || all.iter().flat_map(|p| p.iter().map(|v| v.1));
    let y_max = values().fold(1.0, f64::max) * 2.0;
    let y_min = values().fold(f64::INFINITY, f64::min).max(0.1) / 2.0;
    log_y_chart(
        &format!("Latency by percentile — {}", r.target),
        (x_max, (y_min, y_max)),
        [
            Axis {
                desc: "percentile (log scale of 1/(1-p))",
                format: nines_label,
                labels: x_max.ceil() as usize + 1,
            },
            Axis {
                desc: "latency (µs, log scale)",
                format: count_label,
                labels: 10,
            },
        ],
        |chart| {
            for ((name, _, color), pts) in series.iter().zip(all) {
                let c = *color;
                chart
                    .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                    .map_err(err)?
                    .label(*name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                    });
            }
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_labels() {
        assert_eq!(nines_label(&0.0), "0%");
        assert_eq!(nines_label(&1.0), "90%");
        assert_eq!(nines_label(&2.0), "99%");
        assert_eq!(nines_label(&3.0), "99.9%");
        assert_eq!(nines_label(&5.0), "99.999%");
    }
}
