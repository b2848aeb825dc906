//! Plots of a run second by second, in two stacked panels: throughput (beside an open loop's
//! target) and p99, or a storm's connections open and echo p99.

use plotters::prelude::*;

use super::chart::{stacked, Panel, Res, Series, GREY};
use super::MIN_INTERVAL_S;
use crate::report::Report;

/// Throughput and p99 per second over the run (two panels); an open loop's target rate is
/// drawn beside the throughput it achieved.
pub fn timeline(r: &Report) -> Res {
    let target: Vec<(f64, f64)> = r
        .intervals
        .iter()
        .filter(|iv| iv.duration_s >= MIN_INTERVAL_S)
        .filter_map(|iv| Some((iv.start_s + iv.duration_s / 2.0, iv.target_rps?)))
        .collect();
    let pts: Vec<(f64, f64, Option<f64>)> = r
        .intervals
        .iter()
        // A sliver at the end (the last replies draining after the window) would plot as a
        // collapse in throughput that did not happen.
        .filter(|iv| iv.duration_s >= MIN_INTERVAL_S)
        .map(|iv| {
            (
                iv.start_s + iv.duration_s / 2.0,
                iv.requests as f64 / iv.duration_s,
                iv.latency_us.map(|l| l.p99),
            )
        })
        .collect();
    if pts.is_empty() {
        return Err("plot: no whole second was measured, so there is no timeline".into());
    }
    let [top, bottom] = split(&pts);
    let throughput = if target.is_empty() {
        Panel::one("throughput per second", "throughput (req/s)", BLUE, top)
    } else {
        Panel {
            caption: "throughput per second",
            y_desc: "throughput (req/s)",
            series: vec![
                Series {
                    name: Some("target"),
                    color: GREY,
                    points: target,
                },
                Series {
                    name: Some("achieved"),
                    color: BLUE,
                    points: top,
                },
            ],
        }
    };
    stacked(
        &format!("Throughput and p99 per second — {}", r.target),
        "seconds into the measurement",
        [
            throughput,
            Panel::one(
                "p99 latency per second (corrected)",
                "p99 latency (µs)",
                RED,
                bottom,
            ),
        ],
    )
}

/// A storm's connections open and echo p99 per second (two panels).
pub fn storm(r: &Report) -> Res {
    if r.intervals.is_empty() {
        return Err("plot: the storm recorded no seconds".into());
    }
    // Connections open is a count at the end of each second (from 0 at the start); the echo
    // p99 is of the whole second, so it sits in the middle.
    let mut open = 0u64;
    let mut top = vec![(0.0, 0.0)];
    let mut bottom = Vec::new();
    for iv in &r.intervals {
        open = (open + iv.connections_opened)
            .saturating_sub(iv.connections_lost + iv.connections_closed);
        top.push((iv.start_s + iv.duration_s, open as f64));
        if let Some(l) = iv.latency_us {
            bottom.push((iv.start_s + iv.duration_s / 2.0, l.p99));
        }
    }
    stacked(
        &format!("Connections and echo p99 — storm of {}", r.target),
        "seconds into the storm",
        [
            Panel::one("connections open", "connections open", BLUE, top),
            Panel::one("echo p99 per second", "echo p99 (µs)", RED, bottom),
        ],
    )
}

/// Per-second (x, a, b-where-measured) points as the two series (x, a) and (x, b).
fn split(pts: &[(f64, f64, Option<f64>)]) -> [Vec<(f64, f64)>; 2] {
    [
        pts.iter().map(|p| (p.0, p.1)).collect(),
        pts.iter().filter_map(|p| p.2.map(|v| (p.0, v))).collect(),
    ]
}
