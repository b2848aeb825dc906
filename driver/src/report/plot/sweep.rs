//! A sweep's throughput against p99: a curve per load model, a point per step, the knee circled.

use plotters::prelude::*;

use super::chart::{count_label, err, log_y_chart, Axis, Res};
use crate::report::sweep::{StepLoad, Sweep};

/// Each step that measured replies: (throughput, p99 µs, open loop, the knee).
fn sweep_points(s: &Sweep) -> Vec<(f64, f64, bool, bool)> {
    s.steps
        .iter()
        .enumerate()
        .filter_map(|(i, st)| {
            let l = st.report.latency_us?;
            let knee = s.knee.step == Some(i);
            Some((
                st.report.throughput_rps,
                l.p99.max(0.1),
                matches!(st.load, StepLoad::OpenLoop { .. }),
                knee,
            ))
        })
        .collect()
}

/// A sweep's throughput against p99 (log axis): the closed-loop steps and the open-loop steps
/// as two curves, a point per step, the knee circled.
pub fn sweep_curve(s: &Sweep) -> Res {
    let pts = sweep_points(s);
    if pts.is_empty() {
        return Err("plot: no step measured replies".into());
    }
    let x_max = pts.iter().map(|p| p.0).fold(1.0, f64::max) * 1.1;
    let y_max = pts.iter().map(|p| p.1).fold(1.0, f64::max) * 3.0;
    let y_min = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min) / 2.0;
    log_y_chart(
        &format!("Throughput vs p99 — sweep of {}", s.target),
        (x_max, (y_min, y_max)),
        [
            Axis {
                desc: "throughput (req/s)",
                format: count_label,
                labels: 10,
            },
            Axis {
                desc: "p99 latency (µs, log scale)",
                format: count_label,
                labels: 10,
            },
        ],
        |chart| {
            for (open, name, color) in [
                (false, "closed-loop steps (by connections)", BLUE),
                (true, "open-loop steps (by rate)", RGBColor(0, 140, 0)),
            ] {
                let mut line: Vec<(f64, f64)> = pts
                    .iter()
                    .filter(|p| p.2 == open)
                    .map(|p| (p.0, p.1))
                    .collect();
                if line.is_empty() {
                    continue;
                }
                line.sort_by(|a, b| a.0.total_cmp(&b.0));
                chart
                    .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
                    .map_err(err)?
                    .label(name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(line.into_iter().map(|p| Circle::new(p, 4, color.filled())))
                    .map_err(err)?;
            }
            chart
                .draw_series(
                    pts.iter()
                        .filter(|p| p.3)
                        .map(|p| Circle::new((p.0, p.1), 10, RED.stroke_width(3))),
                )
                .map_err(err)?
                .label("knee")
                .legend(|(x, y)| Circle::new((x + 10, y), 5, RED.stroke_width(2)));
            Ok(())
        },
    )
}
