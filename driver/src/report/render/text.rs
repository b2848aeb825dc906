//! The terminal summary: what a person reads first, so it leads with the figures, says plainly
//! when a run was cut short or had errors, and names the load shape. A live run and
//! `nines report` print exactly this.

use std::fmt::Write;

use nines_common::units::{rate_text, thousands};

pub use super::bytes_text;
use crate::config::{Bench, Load, StopAt};
use crate::report::manifest::Manifest;
use crate::report::{LatencySummary, LoadSummary, Origin, Outcome, ProfileSummary, Report};

/// Multi-line human summary.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", title(r));
    let _ = writeln!(
        s,
        "  throughput  {:>12} req/s   ({} replies in {:.3} s)",
        thousands(r.throughput_rps.round() as u64),
        thousands(r.requests),
        r.duration_s
    );
    latency(&mut s, r);
    super::by_request::text(&mut s, r);
    super::stages::text(&mut s, r);
    transfer(&mut s, r);
    if let Some(t) = &r.tls {
        let _ = writeln!(s, "  tls         {}", t.line());
        if let Some(f) = &t.first_failure {
            let _ = writeln!(s, "  tls failed  {f}");
        }
    }
    if let LoadSummary::OpenLoop(o) = &r.load {
        let lag = match &o.schedule_lag_us {
            Some(l) => format!(
                "driver schedule lag p50 {:.1} µs p99 {:.1} µs max {:.1} µs",
                l.p50, l.p99, l.max
            ),
            None => "no request was sent".to_string(),
        };
        let _ = writeln!(
            s,
            "  open loop   requested {} req/s, achieved {} req/s; {lag}",
            rate_text(o.requested_rps),
            rate_text(o.achieved_rps),
        );
    }
    errors(&mut s, r);
    replies(&mut s, r);
    if let Some(w) = r.warmup.as_ref().filter(|w| w.requests > 0) {
        let p99 = w
            .latency_us
            .map_or(String::new(), |l| format!(" (p99 {:.1} µs)", l.p99));
        let _ = writeln!(
            s,
            "  warm-up     {} replies in {:.1} s, discarded{p99}",
            thousands(w.requests),
            w.duration_s
        );
    }
    match &r.load {
        LoadSummary::Storm(st) => super::storm::lines(&mut s, r, st),
        _ => connections(&mut s, r),
    }
    server_cpu(&mut s, r);
    super::resources::text(&mut s, r);
    super::flame::text(&mut s, r.flame.as_ref());
    if let Some(p) = &r.profile {
        profile(&mut s, p);
    }
    for w in &r.warnings {
        let _ = writeln!(s, "  WARNING     {}", w.message);
    }
    if let Some(c) = &r.confidence {
        confidence(&mut s, c);
    }
    for l in &r.diagnosis {
        let _ = writeln!(s, "  {:<11} {}", l.kind.label(), l.evidence);
    }
    if let Some(gate) = &r.slo {
        s.push_str(&gate.to_string());
    }
    if let Outcome::CutShort(why) = &r.outcome {
        let _ = writeln!(
            s,
            "  CUT SHORT   {why}; figures cover what was measured until then"
        );
    }
    s
}

/// The first line: what was loaded, how, and for how long.
fn title(r: &Report) -> String {
    match &r.origin {
        Origin::Run { manifest } => run_title(r, manifest),
        Origin::Merged { parts } if matches!(r.load, LoadSummary::Storm(_)) => format!(
            "nines storm {} | {} driver processes merged | {} thread(s)",
            r.target,
            parts.len(),
            r.driver.threads
        ),
        Origin::Merged { parts } => {
            let files: Vec<&str> = parts.iter().map(|p| p.file.as_str()).collect();
            format!(
                "nines merge {} | {} result(s): {}",
                r.target,
                parts.len(),
                files.join(", ")
            )
        }
        Origin::IntervalLog { file } => {
            format!("interval log {file} | {} interval(s)", r.intervals.len())
        }
    }
}

fn run_title(r: &Report, m: &Manifest) -> String {
    let c = &m.config;
    let bench = |b: &Bench, load: String| {
        let stop = match b.stop {
            StopAt::Duration(d) => format!("{:.1} s", d.as_secs_f64()),
            StopAt::Requests(n) => format!("{} requests", thousands(n)),
        };
        format!(
            "nines bench {}{} | {load} | {} thread(s) x {} connection(s) x pipeline {} | {} | {stop}",
            r.target,
            super::embedded(r),
            r.driver.threads,
            c.connections,
            b.pipeline,
            c.request.describe(),
        )
    };
    match &c.load {
        Load::ClosedLoop(b) => bench(b, "closed loop".to_string()),
        Load::OpenLoop {
            bench: b,
            rate,
            arrivals,
        } => bench(
            b,
            match rate.stages() {
                None => format!(
                    "open loop {} req/s {}",
                    rate_text(rate.mean_per_s()),
                    arrivals.arrival
                ),
                Some(stages) => format!(
                    "open loop in stages {} (mean {} req/s) {}",
                    stages.describe(),
                    rate_text(rate.mean_per_s()),
                    arrivals.arrival
                ),
            },
        ),
        Load::Storm(st) => super::storm::title(r, c, st),
    }
}

/// The percentiles' 95% intervals, or why a percentile has none.
fn confidence(s: &mut String, c: &crate::report::confidence::Confidence) {
    let parts: Vec<String> = c
        .percentiles
        .iter()
        .map(|p| match (p.half_width_pct, &p.too_short) {
            (Some(h), _) => format!("{} ±{h:.1}%", p.name),
            (None, Some(why)) if why.starts_with("too few") => {
                format!("{} too few replies ({:.0} beyond)", p.name, p.beyond)
            }
            (None, _) => format!("{} -", p.name),
        })
        .collect();
    let batches = if c.batches >= 5 {
        format!("over {} one-second batches", c.batches)
    } else {
        format!(
            "run too short to batch ({} whole seconds, 5 needed)",
            c.batches
        )
    };
    let _ = writeln!(s, "  95% CI      {} ({batches})", parts.join(", "));
}

fn latency(s: &mut String, r: &Report) {
    let Some(corrected) = &r.latency_us else {
        let _ = writeln!(
            s,
            "  latency     no replies were measured, so there are no percentiles"
        );
        return;
    };
    match &r.load {
        LoadSummary::Storm(_) => latency_lines(
            s,
            "echo latency µs  (from when each message was due)",
            corrected,
        ),
        LoadSummary::OpenLoop(_) => {
            latency_lines(
                s,
                "latency µs  (corrected: from when each request was due)",
                corrected,
            );
            if let Some(u) = &r.latency_uncorrected_us {
                latency_lines(s, "uncorrected (from when each was sent; hides stalls)", u);
            }
        }
        LoadSummary::ClosedLoop | LoadSummary::Mixed | LoadSummary::Unknown => {
            latency_lines(s, "latency µs", corrected);
        }
    }
}

fn latency_lines(s: &mut String, title: &str, l: &LatencySummary) {
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

/// Bytes moved in the measurement, and their rate.
fn transfer(s: &mut String, r: &Report) {
    if let Some(t) = r
        .transfer
        .filter(|t| t.received_bytes > 0 || t.sent_bytes > 0)
    {
        let _ = writeln!(
            s,
            "  transfer    received {} ({}/s), sent {} ({}/s)",
            bytes_text(t.received_bytes as f64),
            bytes_text(t.received_bytes_per_s),
            bytes_text(t.sent_bytes as f64),
            bytes_text(t.sent_bytes_per_s),
        );
    }
}

fn errors(s: &mut String, r: &Report) {
    if r.errors == 0 {
        let _ = writeln!(s, "  errors      0");
        return;
    }
    let _ = writeln!(
        s,
        "  errors      {} ({})",
        thousands(r.errors),
        r.errors_by_kind.describe()
    );
}

/// Reply kinds (HTTP statuses, RESP types), reconnects and undecodable replies, when any.
fn replies(s: &mut String, r: &Report) {
    let d = &r.driver;
    let counts = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, n)| format!("{k} {}", thousands(*n)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !d.reply_kinds.is_empty() {
        let _ = writeln!(
            s,
            "  replies     {} (warm-up included)",
            counts(&d.reply_kinds)
        );
    }
    if d.reconnects > 0 {
        let _ = writeln!(
            s,
            "  reconnects  {} (the server closed connections after replies, as it said it would)",
            thousands(d.reconnects)
        );
    }
    if !d.decode_failures.is_empty() {
        let _ = writeln!(s, "  undecodable {}", counts(&d.decode_failures));
    }
}

fn connections(s: &mut String, r: &Report) {
    let d = &r.driver;
    let failed: u64 = d.connect_failures.values().sum();
    if d.connections_opened >= d.connections && d.connections_lost == 0 {
        return;
    }
    let mut line = format!(
        "  connections {} of {} opened, {} lost",
        thousands(d.connections_opened),
        thousands(d.connections),
        thousands(d.connections_lost)
    );
    if failed > 0 {
        let by: Vec<String> = d
            .connect_failures
            .iter()
            .map(|(e, n)| format!("{e} {}", thousands(*n)))
            .collect();
        let _ = write!(line, "; failed: {}", by.join(", "));
    }
    let _ = writeln!(s, "{line}");
}

fn profile(s: &mut String, p: &ProfileSummary) {
    let _ = writeln!(
        s,
        "  server time accept {:.1}% | read {:.1}% | process {:.1}% | write {:.1}% | overhead {:.1}%",
        p.accept_pct, p.read_pct, p.process_pct, p.write_pct, p.overhead_pct
    );
    let largest = [
        p.accept_pct,
        p.read_pct,
        p.process_pct,
        p.write_pct,
        p.overhead_pct,
    ]
    .into_iter()
    .fold(0.0, f64::max);
    let _ = writeln!(
        s,
        "  bottleneck  {} ({largest:.1}% of {:.3} s of server time over {} requests)",
        p.bottleneck,
        p.profiled_ns as f64 / 1e9,
        thousands(p.server_requests)
    );
}

/// The server's CPU, when measured: its busiest thread, all its threads, and CPU per reply.
fn server_cpu(s: &mut String, r: &Report) {
    if let Some(c) = &r.server_cpu {
        let _ = writeln!(s, "  server CPU  {}", c.describe(r.all_replies()));
    }
}
