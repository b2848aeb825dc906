//! A staged run's stages as the text summary and Markdown show them: each stage's time, its
//! rates, the requests it asked for and got, and its corrected latency percentiles.

use std::fmt::Write;

use nines_common::units::{rate_text, thousands};

use crate::report::stages::StageResult;
use crate::report::Report;

/// The columns after the stage's own: asked, replies, req/s, errors, then percentiles.
fn figures(st: &StageResult) -> [String; 8] {
    let [p50, p99, p999, max] = super::tail_cells(st.latency_us.as_ref());
    [
        thousands(st.target_requests.round() as u64),
        thousands(st.requests),
        rate_text(st.throughput_rps),
        thousands(st.errors),
        p50,
        p99,
        p999,
        max,
    ]
}

/// `0s-30s`, `30s-150s`, `1.5s-3s`: where a stage sits in the run, in seconds (to the
/// millisecond).
fn time(st: &StageResult) -> String {
    let at = |s: f64| {
        let text = format!("{:.3}", s.max(0.0));
        format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
    };
    format!("{}-{}", at(st.start_s), at(st.start_s + st.duration_s))
}

/// The stages table of the terminal summary (nothing for a steady rate).
pub fn text(s: &mut String, r: &Report) {
    if r.stages.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "  stages      #  {:<13}  {:<22}  {:>9}  {:>9}  {:>7}  {:>6}  {:>9}  {:>9}  {:>9}  {:>9}",
        "time",
        "rate",
        "asked",
        "replies",
        "req/s",
        "errors",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs"
    );
    for st in &r.stages {
        let [asked, replies, rps, errors, p50, p99, p999, max] = figures(st);
        let _ = writeln!(
            s,
            "              {:<2} {:<13}  {:<22}  {asked:>9}  {replies:>9}  {rps:>7}  {errors:>6}  {p50:>9}  {p99:>9}  {p999:>9}  {max:>9}",
            st.stage,
            time(st),
            st.span().rates_text(),
        );
    }
}

/// The stages as a Markdown table (nothing for a steady rate).
pub fn markdown(s: &mut String, r: &Report) {
    if r.stages.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "| stage | time | rate | asked | replies | req/s | errors | p50 µs | p99 µs | p99.9 µs | max µs |"
    );
    let _ = writeln!(s, "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for st in &r.stages {
        let [asked, replies, rps, errors, p50, p99, p999, max] = figures(st);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {asked} | {replies} | {rps} | {errors} | {p50} | {p99} | {p999} | {max} |",
            st.stage,
            time(st),
            st.span().rates_text(),
        );
    }
    s.push('\n');
}
