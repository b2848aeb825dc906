//! Plots of the one Report (and of a sweep), as SVG with plotters' SVG backend: the latency
//! percentile spectrum (log axis of 1/(1−q), labelled 90%, 99%, 99.9% … as HdrHistogram's
//! plotter draws it; corrected and uncorrected together), a per-second timeline of throughput
//! and p99, a sweep's throughput–latency curve with the knee marked, and a storm's connections
//! and echo p99 over time.

use plotters::prelude::*;

use super::Report;

/// Plot size, pixels.
const SIZE: (u32, u32) = (900, 540);
/// Deepest percentile drawn on the spectrum: 99.9999%.
const MAX_NINES: f64 = 6.0;

/// Shortest interval shown as a per-second rate (the timeline, the progress bar): the last
/// replies draining after the window make a sliver whose "rate" never happened.
pub const MIN_INTERVAL_S: f64 = 0.5;

type Res = Result<String, String>;

fn err(e: impl std::fmt::Display) -> String {
    format!("plot: {e}")
}

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

/// An axis value as a whole number with thousands separators.
fn count_label(v: &f64) -> String {
    if *v < 10.0 && v.fract() != 0.0 {
        format!("{v:.1}")
    } else {
        nines_common::units::thousands(v.round().max(0.0) as u64)
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

/// One axis of a [`log_y_chart`]: what it shows, how its ticks read, about how many.
struct Axis<'a> {
    desc: &'a str,
    format: fn(&f64) -> String,
    labels: usize,
}

/// The chart of the spectrum and the sweep curve: a linear x axis from 0 to `x_max`, a log
/// latency y axis, a legend at the upper left; `draw` adds the series.
fn log_y_chart(
    title: &str,
    (x_max, (y_min, y_max)): (f64, (f64, f64)),
    [x, y]: [Axis<'_>; 2],
    draw: impl FnOnce(&mut LogYChart<'_, '_>) -> Result<(), String>,
) -> Res {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(15)
            // Room for the last x label ("99.9999%") to the right of the plot.
            .margin_right(40)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..x_max, (y_min..y_max).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x.desc)
            .x_labels(x.labels)
            .x_label_formatter(&x.format)
            .y_desc(y.desc)
            .y_labels(y.labels)
            .y_label_formatter(&y.format)
            .draw()
            .map_err(err)?;
        draw(&mut chart)?;
        legend(&mut chart)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The series' names in a box at the upper left.
fn legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

type LogYChart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<
        plotters::coord::types::RangedCoordf64,
        plotters::coord::combinators::LogCoord<f64>,
    >,
>;

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
    stacked(
        &format!("Throughput and p99 per second — {}", r.target),
        "seconds into the measurement",
        [
            Panel {
                caption: "throughput per second",
                y_desc: "throughput (req/s)",
                color: BLUE,
                points: top,
                target: (!target.is_empty()).then_some(target),
            },
            Panel {
                caption: "p99 latency per second (corrected)",
                y_desc: "p99 latency (µs)",
                color: RED,
                points: bottom,
                target: None,
            },
        ],
    )
}

/// One per-second series: the panel's caption, its y-axis description, its colour and its
/// points (x seconds, y where measured); and what was asked for, when the series has a target
/// (drawn beside it in grey, with a legend naming both).
struct Panel<'a> {
    caption: &'a str,
    y_desc: &'a str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
    target: Option<Vec<(f64, f64)>>,
}

/// Two per-second series in two panels, one above the other on the same time axis: each keeps
/// its own y scale without the two lines crossing or hiding each other (as they did on one
/// chart with a second y axis, when the scales happened to line up).
fn stacked(title: &str, x_desc: &str, panels: [Panel<'_>; 2]) -> Res {
    let x_max = panels
        .iter()
        .flat_map(|p| p.points.iter().map(|v| v.0))
        .fold(1.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let root = root.titled(title, ("sans-serif", 22)).map_err(err)?;
        let (top, bottom) = root.split_vertically(SIZE.1 / 2 - 30);
        for (area, panel, last) in [(top, &panels[0], false), (bottom, &panels[1], true)] {
            let y_max = panel
                .points
                .iter()
                .chain(panel.target.iter().flatten())
                .map(|p| p.1)
                .fold(1.0, f64::max)
                * 1.15;
            let mut chart = ChartBuilder::on(&area)
                .caption(panel.caption, ("sans-serif", 16))
                .margin(10)
                .margin_right(40)
                .x_label_area_size(if last { 45 } else { 25 })
                .y_label_area_size(80)
                .build_cartesian_2d(0f64..x_max, 0f64..y_max)
                .map_err(err)?;
            let mut mesh = chart.configure_mesh();
            mesh.y_desc(panel.y_desc).y_label_formatter(&count_label);
            if last {
                mesh.x_desc(x_desc);
            }
            mesh.draw().map_err(err)?;
            let color = panel.color;
            // The target first, so what was achieved is drawn over it where they agree.
            if let Some(target) = &panel.target {
                let grey = RGBColor(150, 150, 150);
                chart
                    .draw_series(LineSeries::new(
                        target.iter().copied(),
                        grey.stroke_width(2),
                    ))
                    .map_err(err)?
                    .label("target")
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], grey.stroke_width(2))
                    });
            }
            let drawn = chart
                .draw_series(LineSeries::new(
                    panel.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(err)?;
            if panel.target.is_some() {
                drawn.label("achieved").legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
                legend(&mut chart)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Each step that measured replies: (throughput, p99 µs, open loop, the knee).
fn sweep_points(s: &super::sweep::Sweep) -> Vec<(f64, f64, bool, bool)> {
    s.steps
        .iter()
        .enumerate()
        .filter_map(|(i, st)| {
            let l = st.report.latency_us?;
            let knee = s.knee.step == Some(i);
            Some((
                st.report.throughput_rps,
                l.p99.max(0.1),
                matches!(st.load, super::sweep::StepLoad::OpenLoop { .. }),
                knee,
            ))
        })
        .collect()
}

/// A sweep's throughput against p99 (log axis): the closed-loop steps and the open-loop steps
/// as two curves, a point per step, the knee circled.
pub fn sweep_curve(s: &super::sweep::Sweep) -> Res {
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
            Panel {
                caption: "connections open",
                y_desc: "connections open",
                color: BLUE,
                points: top,
                target: None,
            },
            Panel {
                caption: "echo p99 per second",
                y_desc: "echo p99 (µs)",
                color: RED,
                points: bottom,
                target: None,
            },
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
