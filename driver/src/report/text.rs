//! The terminal summary of a [`Report`]: what a person reads first, so it leads with the
//! figures, says plainly when a run was cut short or had errors, and names the load shape.

use std::fmt::Write;

use super::Report;
use crate::config::StopAt;

/// Formats `n` with thousands separators.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Multi-line human summary.
pub fn render_text(r: &Report) -> String {
    let c = &r.config;
    let mut s = String::new();
    let what = match c.request.protocol {
        crate::target::ProtocolKind::Echo => format!("{} B echo", c.request.payload_bytes),
        crate::target::ProtocolKind::Nines => match c.request.op {
            nines_protocol::Op::Work => format!("nines work {} µs", c.request.work_us),
            op => format!("nines {op} {} B", c.request.payload_bytes),
        },
    };
    let stop = match c.stop {
        StopAt::Duration(d) => format!("{:.1} s", d.as_secs_f64()),
        StopAt::Requests(n) => format!("{} requests", thousands(n)),
    };
    let load = match &r.open_loop {
        Some(o) => format!(
            "open loop {} req/s {}",
            thousands(o.requested_rps.round() as u64),
            o.arrival
        ),
        None => "closed loop".to_string(),
    };
    let _ = writeln!(
        s,
        "nines bench {}{} | {load} | {} thread(s) x {} connection(s) x pipeline {} | {} | {}",
        r.target,
        if r.embedded_server {
            " (embedded server)"
        } else {
            ""
        },
        r.driver.threads,
        c.connections,
        c.pipeline,
        what,
        stop
    );
    let _ = writeln!(
        s,
        "  throughput  {:>12} req/s   ({} replies in {:.3} s)",
        thousands(r.throughput_rps.round() as u64),
        thousands(r.requests),
        r.duration_s
    );
    if r.open_loop.is_some() {
        latency_lines(
            &mut s,
            "latency µs  (corrected: from when each request was due)",
            &r.latency_us,
        );
        latency_lines(
            &mut s,
            "uncorrected (from when each was sent; hides stalls)",
            &r.latency_uncorrected_us,
        );
    } else {
        latency_lines(&mut s, "latency µs", &r.latency_us);
    }
    if let Some(o) = &r.open_loop {
        let _ = writeln!(
            s,
            "  open loop   requested {} req/s, achieved {} req/s; driver schedule lag p50 {:.1} µs p99 {:.1} µs max {:.1} µs",
            thousands(o.requested_rps.round() as u64),
            thousands(o.achieved_rps.round() as u64),
            o.schedule_lag_us.p50,
            o.schedule_lag_us.p99,
            o.schedule_lag_us.max
        );
    }
    if r.errors == 0 {
        let _ = writeln!(s, "  errors      0");
    } else {
        let kinds: Vec<String> = r
            .errors_by_kind
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            s,
            "  errors      {} ({})",
            thousands(r.errors),
            kinds.join(", ")
        );
    }
    if r.warmup.requests > 0 {
        let _ = writeln!(
            s,
            "  warm-up     {} replies in {:.1} s, discarded (p99 {:.1} µs)",
            thousands(r.warmup.requests),
            r.warmup.duration_s,
            r.warmup.latency_us.p99
        );
    }
    if r.driver.connections_opened < r.driver.connections as u64 || r.driver.connections_lost > 0 {
        let _ = writeln!(
            s,
            "  connections {} of {} opened, {} lost",
            r.driver.connections_opened, r.driver.connections, r.driver.connections_lost
        );
    }
    for w in &r.warnings {
        let _ = writeln!(s, "  WARNING     {w}");
    }
    if let Some(why) = &r.cut_short_reason {
        let _ = writeln!(
            s,
            "  CUT SHORT   {why}; figures cover what was measured until then"
        );
    }
    s
}

fn latency_lines(s: &mut String, title: &str, l: &super::LatencySummary) {
    let _ = writeln!(s, "  {title}");
    let _ = writeln!(
        s,
        "              min {:.1}  mean {:.1}  p50 {:.1}  p75 {:.1}  p90 {:.1}  p95 {:.1}",
        l.min, l.mean, l.p50, l.p75, l.p90, l.p95
    );
    let _ = writeln!(
        s,
        "              p99 {:.1}  p99.9 {:.1}  p99.99 {:.1}  max {:.1}",
        l.p99, l.p99_9, l.p99_99, l.max
    );
}

/// Summary of merged interval logs.
pub fn render_merge_text(
    files: &[std::path::PathBuf],
    intervals: u64,
    h: &hdrhistogram::Histogram<u64>,
    span_s: f64,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "nines merge | {} log(s), {} interval(s), {} requests over {:.1} s ({} req/s)",
        files.len(),
        intervals,
        thousands(h.len()),
        span_s,
        thousands(if span_s > 0.0 {
            (h.len() as f64 / span_s).round() as u64
        } else {
            0
        })
    );
    latency_lines(
        &mut s,
        "latency µs (all logs, merged count by count)",
        &super::LatencySummary::from_histogram(h),
    );
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
