//! The report directory (`--report DIR`, `nines report R.json --out DIR`), laid out once for
//! every command: a run's `summary.md` (tables to paste in a pull request), `results.csv`,
//! `latency.hgrm`, `result.json` and its SVG plots (resources.svg when the run read what the
//! target and the driver held); a sweep's summary, a row per step, its
//! throughput–latency curve and each step's own directory (`step-01`, ...). Every file is
//! written atomically; a file that cannot be written is listed, and the rest are still written.

use std::path::{Path, PathBuf};

use super::flame::{Flame, FlameGraph};
use super::render::{render, Format};
use super::sweep::Sweep;
use super::{plot, write_atomic, LoadSummary, Report};

/// What writing a directory did.
#[derive(Debug, Default)]
pub struct Written {
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Files (or the directory) that could not be written, and why.
    pub failed: Vec<(PathBuf, std::io::Error)>,
    /// Plots that could not be drawn (a run without seconds has no timeline), and why.
    pub not_drawn: Vec<(PathBuf, String)>,
}

impl Written {
    /// Whether every file was written (a plot with nothing to draw is not a failure).
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }

    fn file(&mut self, path: PathBuf, contents: &[u8]) {
        match write_atomic(&path, contents) {
            Ok(()) => self.files.push(path),
            Err(e) => self.failed.push((path, e)),
        }
    }

    fn plot(&mut self, path: PathBuf, svg: Result<String, String>) {
        match svg {
            Ok(svg) => self.file(path, svg.as_bytes()),
            Err(why) => self.not_drawn.push((path, why)),
        }
    }

    fn dir(&mut self, dir: &Path) -> bool {
        match std::fs::create_dir_all(dir) {
            Ok(()) => true,
            Err(e) => {
                self.failed.push((dir.to_path_buf(), e));
                false
            }
        }
    }
}

/// Writes `report`'s directory into `dir` (created if missing).
pub fn write(report: &Report, dir: &Path) -> Written {
    let mut w = Written::default();
    write_into(&mut w, report, dir);
    w
}

fn write_into(w: &mut Written, report: &Report, dir: &Path) {
    if !w.dir(dir) {
        return;
    }
    let files = [
        ("summary.md", Format::Markdown),
        ("results.csv", Format::Csv),
        ("latency.hgrm", Format::Hgrm),
        ("result.json", Format::Json),
    ];
    for (name, format) in files {
        w.file(dir.join(name), render(report, format).as_bytes());
    }
    w.plot(dir.join("latency-spectrum.svg"), plot::spectrum(report));
    w.plot(dir.join("timeline.svg"), plot::timeline(report));
    if let LoadSummary::Storm(_) = report.load {
        w.plot(dir.join("storm.svg"), plot::storm(report));
    }
    if report.intervals.iter().any(|iv| iv.held.is_some()) {
        w.plot(dir.join("resources.svg"), plot::resources(report));
    }
    if let Some(Flame::Sampled(g)) = &report.flame {
        w.plot(dir.join("flame.svg"), flame_svg(report, g));
    }
}

/// A run's flame graph, titled with what was loaded.
pub fn flame_svg(report: &Report, g: &FlameGraph) -> Result<String, String> {
    super::render::flame::svg(
        g,
        &format!("{} under load: the measured window", report.target),
    )
}

/// Writes a sweep's directory into `dir`: summary.md, results.csv (a row per step),
/// result.json, the throughput–latency curve, and each step's directory in the table's order.
pub fn write_sweep(s: &Sweep, dir: &Path) -> Written {
    let mut w = Written::default();
    if !w.dir(dir) {
        return w;
    }
    for (name, format) in [
        ("summary.md", Format::Markdown),
        ("results.csv", Format::Csv),
        ("result.json", Format::Json),
    ] {
        let text = super::render::sweep::render(s, format).expect("a sweep renders these");
        w.file(dir.join(name), text.as_bytes());
    }
    for (i, step) in s.steps.iter().enumerate() {
        write_into(&mut w, &step.report, &dir.join(step_dir_name(i)));
    }
    w.plot(dir.join("throughput-latency.svg"), plot::sweep_curve(s));
    w
}

/// The directory of the `i`th step (from 0) in a sweep's report directory.
pub fn step_dir_name(i: usize) -> String {
    format!("step-{:02}", i + 1)
}
