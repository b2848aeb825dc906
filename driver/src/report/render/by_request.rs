//! A request mix's lines as the text summary and Markdown show them: each line's share asked
//! and got, replies, throughput, errors and corrected latency percentiles.

use std::fmt::Write;

use nines_common::units::thousands;

use super::tail_cells;
use crate::report::by_request::RequestResult;
use crate::report::Report;

/// The columns after the line's name: asked, got, replies, req/s, errors, then percentiles.
fn cells(l: &RequestResult) -> [String; 9] {
    let [p50, p99, p999, max] = tail_cells(l.latency_us.as_ref());
    [
        format!("{:.1}%", 100.0 * l.share),
        format!("{:.1}%", 100.0 * l.reply_share),
        thousands(l.requests),
        thousands(l.throughput_rps.round() as u64),
        thousands(l.errors),
        p50,
        p99,
        p999,
        max,
    ]
}

/// The mix's table in the terminal summary (nothing for one request).
pub fn text(s: &mut String, r: &Report) {
    if r.by_request.is_empty() {
        return;
    }
    let width = r
        .by_request
        .iter()
        .map(|l| l.name.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 40);
    let _ = writeln!(
        s,
        "  by request  {:<width$}  asked    got      replies    req/s  errors     p50 µs     p99 µs   p99.9 µs     max µs",
        "name"
    );
    for l in &r.by_request {
        let name: String = l.name.chars().take(width).collect();
        let [asked, got, replies, rps, errors, p50, p99, p999, max] = cells(l);
        let _ = writeln!(
            s,
            "              {name:<width$}  {asked:>6}  {got:>6}  {replies:>9}  {rps:>7}  {errors:>6}  {p50:>9}  {p99:>9}  {p999:>9}  {max:>9}",
        );
    }
}

/// The mix's table in Markdown (nothing for one request).
pub fn markdown(s: &mut String, r: &Report) {
    if r.by_request.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "| request | asked | got | replies | req/s | errors | p50 µs | p99 µs | p99.9 µs | max µs |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for l in &r.by_request {
        let [asked, got, replies, rps, errors, p50, p99, p999, max] = cells(l);
        let _ = writeln!(
            s,
            "| {} | {asked} | {got} | {replies} | {rps} | {errors} | {p50} | {p99} | {p999} | {max} |",
            l.name.replace('|', "\\|"),
        );
    }
    s.push('\n');
}
