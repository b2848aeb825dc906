//! Plots of the one Report (and of a sweep), as SVG with plotters' SVG backend: the latency
//! percentile spectrum (log axis of 1/(1−q), labelled 90%, 99%, 99.9% … as HdrHistogram's
//! plotter draws it; corrected and uncorrected together), a per-second timeline of throughput
//! and p99, a sweep's throughput–latency curve with the knee marked, and a storm's connections
//! and echo p99 over time, and what the target and the driver held (memory, descriptors).
//!
//! One file per plot (or family of plots), and the frames they share in `chart`.

mod chart;
mod resources;
mod seconds;
mod spectrum;
mod sweep;

pub use resources::resources;
pub use seconds::{storm, timeline};
pub use spectrum::spectrum;
pub use sweep::sweep_curve;

/// Shortest interval shown as a per-second rate (the timeline, the progress bar): the last
/// replies draining after the window make a sliver whose "rate" never happened.
pub const MIN_INTERVAL_S: f64 = 0.5;
