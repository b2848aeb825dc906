//! The frames every plot is drawn in, so they all look alike: the size, a chart with a linear x
//! axis and a log latency y axis (the spectrum, the sweep curve), two per-second panels stacked
//! on one time axis (the timeline, a storm, the resources), the legend box and the axis labels.

use plotters::prelude::*;

/// Plot size, pixels.
pub(super) const SIZE: (u32, u32) = (900, 540);
/// A plot's SVG text, or why it could not be drawn.
pub(super) type Res = Result<String, String>;

/// A plotters error as the reason a plot was not drawn.
pub(super) fn err(e: impl std::fmt::Display) -> String {
    format!("plot: {e}")
}

/// An axis value as a whole number with thousands separators.
pub(super) fn count_label(v: &f64) -> String {
    if *v < 10.0 && v.fract() != 0.0 {
        format!("{v:.1}")
    } else {
        nines_common::units::thousands(v.round().max(0.0) as u64)
    }
}

/// One axis of a [`log_y_chart`]: what it shows, how its ticks read, about how many.
pub(super) struct Axis<'a> {
    pub desc: &'a str,
    pub format: fn(&f64) -> String,
    pub labels: usize,
}

/// The chart of the spectrum and the sweep curve: a linear x axis from 0 to `x_max`, a log
/// latency y axis, a legend at the upper left; `draw` adds the series.
pub(super) fn log_y_chart(
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
pub(super) fn legend<'a, CT: CoordTranslate>(
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

pub(super) type LogYChart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<
        plotters::coord::types::RangedCoordf64,
        plotters::coord::combinators::LogCoord<f64>,
    >,
>;

/// One line of a panel: its points (x seconds, y), its colour, and the name the panel's legend
/// gives it (none for a panel's only line, which its caption names).
pub(super) struct Series<'a> {
    pub name: Option<&'a str>,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// Grey: what was asked for, drawn under what was achieved.
pub(super) const GREY: RGBColor = RGBColor(150, 150, 150);

/// One per-second panel: its caption, its y-axis description and its lines, drawn in order
/// (what was asked for first, so what was achieved is drawn over it where they agree); a
/// legend names them when they have names.
pub(super) struct Panel<'a> {
    pub caption: &'a str,
    pub y_desc: &'a str,
    pub series: Vec<Series<'a>>,
}

impl<'a> Panel<'a> {
    /// A panel of one line in `color`.
    pub fn one(
        caption: &'a str,
        y_desc: &'a str,
        color: RGBColor,
        points: Vec<(f64, f64)>,
    ) -> Self {
        Panel {
            caption,
            y_desc,
            series: vec![Series {
                name: None,
                color,
                points,
            }],
        }
    }

    fn points(&self) -> impl Iterator<Item = &(f64, f64)> {
        self.series.iter().flat_map(|s| &s.points)
    }
}

/// Per-second series in two panels, one above the other on the same time axis: each keeps
/// its own y scale without the two lines crossing or hiding each other (as they did on one
/// chart with a second y axis, when the scales happened to line up).
pub(super) fn stacked(title: &str, x_desc: &str, panels: [Panel<'_>; 2]) -> Res {
    let x_max = panels
        .iter()
        .flat_map(|p| p.points().map(|v| v.0))
        .fold(1.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let root = root.titled(title, ("sans-serif", 22)).map_err(err)?;
        let (top, bottom) = root.split_vertically(SIZE.1 / 2 - 30);
        for (area, panel, last) in [(top, &panels[0], false), (bottom, &panels[1], true)] {
            let y_max = panel.points().map(|p| p.1).fold(1.0, f64::max) * 1.15;
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
            for s in &panel.series {
                let color = s.color;
                let drawn = chart
                    .draw_series(LineSeries::new(
                        s.points.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(err)?;
                if let Some(name) = s.name {
                    drawn.label(name).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                }
            }
            if panel.series.iter().any(|s| s.name.is_some()) {
                legend(&mut chart)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}
