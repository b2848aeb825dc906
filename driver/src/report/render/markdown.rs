//! Markdown: a heading, the figures and the latency percentiles as tables, the warnings as a
//! list, and the manifest in one line — ready to paste into a pull request or a results file.

use std::fmt::Write;

use nines_common::units::thousands;

use super::text;
use crate::report::{LatencySummary, LoadSummary, Origin, Outcome, Report};

/// The result as a Markdown section.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let title = text::render(r)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let _ = writeln!(s, "### {title}\n");
    let status = match &r.outcome {
        Outcome::Completed => "completed".to_string(),
        Outcome::CutShort(why) => format!("**cut short**: {why}"),
    };
    let _ = writeln!(s, "| throughput | replies | errors | measured | status |");
    let _ = writeln!(s, "|---:|---:|---:|---:|---|");
    let _ = writeln!(
        s,
        "| {} req/s | {} | {} | {:.3} s | {status} |\n",
        thousands(r.throughput_rps.round() as u64),
        thousands(r.requests),
        thousands(r.errors),
        r.duration_s
    );
    let rows = [
        ("corrected", r.latency_us.as_ref()),
        (
            "uncorrected",
            r.latency_uncorrected_us
                .as_ref()
                .filter(|_| matches!(r.load, LoadSummary::OpenLoop(_))),
        ),
    ];
    latency_table(&mut s, &rows);
    super::by_request::markdown(&mut s, r);
    super::stages::markdown(&mut s, r);
    super::flame::markdown(&mut s, r.flame.as_ref());
    transfer(&mut s, r);
    if let Some(t) = &r.tls {
        let _ = writeln!(s, "TLS: {}.\n", t.line());
        if let Some(f) = &t.first_failure {
            let _ = writeln!(s, "TLS failure: {f}.\n");
        }
    }
    if r.errors > 0 {
        let kinds = r.errors_by_kind.describe();
        let _ = writeln!(s, "Errors: {kinds}\n");
    }
    for w in &r.warnings {
        let _ = writeln!(s, "- **warning** ({}): {}", w.finding.kind(), w.message);
    }
    if let Some(c) = &r.server_cpu {
        let _ = writeln!(s, "- **server CPU**: {}", c.describe(r.all_replies()));
    }
    for l in &r.diagnosis {
        let _ = writeln!(s, "- **{}**: {}", l.kind.label(), l.evidence);
    }
    if let Some(gate) = &r.slo {
        for c in &gate.clauses {
            let verdict = if c.pass { "PASS" } else { "FAIL" };
            let measured = c
                .measured
                .map_or("nothing measured".to_string(), |m| format!("{m:.3}"));
            let _ = writeln!(
                s,
                "- **SLO {verdict}** `{}` (measured {measured})",
                c.clause.text
            );
        }
    }
    if !r.warnings.is_empty()
        || !r.diagnosis.is_empty()
        || r.slo.is_some()
        || r.server_cpu.is_some()
    {
        s.push('\n');
    }
    let _ = writeln!(s, "{}", provenance(r));
    s
}

/// Bytes received and sent, when any were.
fn transfer(s: &mut String, r: &Report) {
    if let Some(t) = r.transfer.filter(|t| t.received_bytes > 0) {
        let _ = writeln!(
            s,
            "Received {} ({}/s), sent {} ({}/s).\n",
            text::bytes_text(t.received_bytes as f64),
            text::bytes_text(t.received_bytes_per_s),
            text::bytes_text(t.sent_bytes as f64),
            text::bytes_text(t.sent_bytes_per_s)
        );
    }
}

fn latency_table(s: &mut String, rows: &[(&str, Option<&LatencySummary>)]) {
    let rows: Vec<(&str, &LatencySummary)> = rows
        .iter()
        .filter_map(|(n, l)| l.map(|l| (*n, l)))
        .collect();
    if rows.is_empty() {
        let _ = writeln!(
            s,
            "No replies were measured, so there are no percentiles.\n"
        );
        return;
    }
    let names: Vec<&str> = rows[0].1.named().iter().map(|(n, _)| *n).collect();
    let _ = writeln!(s, "| latency µs | {} |", names.join(" | "));
    let _ = writeln!(s, "|---|{}", "---:|".repeat(names.len()));
    for (name, l) in rows {
        let values: Vec<String> = l.named().iter().map(|(_, v)| format!("{v:.1}")).collect();
        let _ = writeln!(s, "| {name} | {} |", values.join(" | "));
    }
    s.push('\n');
}

/// Where the result came from, in one line.
fn provenance(r: &Report) -> String {
    match &r.origin {
        Origin::Run { manifest: m } => format!(
            "<sub>nines {} ({}) on {} ({}, {} cores, kernel {}, nofile {}); `{}`</sub>",
            m.nines_version,
            m.git_commit,
            m.host.hostname,
            m.host.cpu_model,
            m.host.cores,
            m.host.kernel,
            m.host.nofile_soft,
            m.command.join(" ")
        ),
        Origin::Merged { parts } => format!("<sub>merged from {} result(s)</sub>", parts.len()),
        Origin::IntervalLog { file } => format!("<sub>read from interval log {file}</sub>"),
    }
}
