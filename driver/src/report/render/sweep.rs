//! A sweep as people read it: a table with a row per step (printed live as steps finish, and
//! again by `nines report`), the peak and the knee; or Markdown, CSV (a row per step) and JSON.

use std::fmt::Write;

use nines_common::units::thousands;

use crate::config::StopAt;
use crate::report::sweep::{fmt_us, Step, Sweep};
use crate::report::{Format, Outcome};

/// The table's header line.
pub fn table_header() -> String {
    format!(
        "  {:<34} {:>12} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "load", "req/s", "p50", "p99", "p99.9", "max", "errors"
    )
}

/// One step's row.
pub fn step_line(step: &Step) -> String {
    let r = &step.report;
    let (p50, p99, p999, max) = match r.latency_us {
        Some(l) => (fmt_us(l.p50), fmt_us(l.p99), fmt_us(l.p99_9), fmt_us(l.max)),
        None => ("-".into(), "-".into(), "-".into(), "-".into()),
    };
    let cut = match &r.outcome {
        Outcome::CutShort(why) => format!("  CUT SHORT: {why}"),
        Outcome::Completed => String::new(),
    };
    format!(
        "  {:<34} {:>12} {:>10} {:>10} {:>10} {:>10} {:>8}{cut}",
        step.label,
        thousands(r.throughput_rps.round() as u64),
        p50,
        p99,
        p999,
        max,
        thousands(r.errors)
    )
}

/// The sweep in `format` (text, markdown, csv, json; the others are per-run formats).
pub fn render(s: &Sweep, format: Format) -> Result<String, String> {
    Ok(match format {
        Format::Text => text(s),
        Format::Markdown => markdown(s),
        Format::Csv => csv(s),
        Format::Json => serde_json::to_string_pretty(s).map_err(|e| e.to_string())? + "\n",
        other => {
            return Err(format!(
                "{other} is a per-run format; a sweep renders as text, markdown, csv or json"
            ))
        }
    })
}

fn text(s: &Sweep) -> String {
    let mut out = format!(
        "nines sweep {} | {} step(s) | {} each step (after {} warm-up)\n",
        s.target,
        s.steps.len(),
        stop_text(s),
        super::secs_text(s.config.bench().warmup)
    );
    let _ = writeln!(out, "{}", table_header());
    for st in &s.steps {
        let _ = writeln!(out, "{}", step_line(st));
    }
    out.push_str(&summary(s));
    out
}

/// The lines after the table: the peak, the knee, and whether the sweep was cut short.
pub fn summary(s: &Sweep) -> String {
    summary_lines(s)
        .iter()
        .map(|(label, text)| format!("  {label:<11} {text}\n"))
        .collect()
}

/// The peak, the knee and why the sweep was cut short, each as (label, text).
fn summary_lines(s: &Sweep) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(p) = &s.peak {
        out.push((
            "peak",
            format!(
                "{} req/s closed loop on {} connections (the rate levels' 100%)",
                thousands(p.throughput_rps.round() as u64),
                p.connections
            ),
        ));
    }
    out.push(("knee", s.knee.why.clone()));
    if let Some(why) = &s.cut_short {
        out.push(("CUT SHORT", format!("{why}; the steps above are what ran")));
    }
    out
}

fn stop_text(s: &Sweep) -> String {
    match s.config.bench().stop {
        StopAt::Duration(d) => super::secs_text(d),
        StopAt::Requests(n) => format!("{} requests", thousands(n)),
    }
}

fn markdown(s: &Sweep) -> String {
    let mut out = format!("### nines sweep {}\n\n", s.target);
    out.push_str("| load | connections | req/s | p50 µs | p99 µs | p99.9 µs | max µs | errors |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (i, st) in s.steps.iter().enumerate() {
        let r = &st.report;
        let mut mark = String::new();
        if s.knee.step == Some(i) {
            mark.push_str(" **(knee)**");
        }
        if let Outcome::CutShort(why) = &r.outcome {
            let _ = write!(mark, " (cut short: {why})");
        }
        // A step without replies has no percentiles: `-`, never a zero.
        let us = |f: fn(&crate::report::LatencySummary) -> f64| {
            r.latency_us
                .as_ref()
                .map_or("-".to_string(), |l| format!("{:.1}", f(l)))
        };
        let _ = writeln!(
            out,
            "| {}{mark} | {} | {:.0} | {} | {} | {} | {} | {} |",
            st.label,
            st.connections(),
            r.throughput_rps,
            us(|l| l.p50),
            us(|l| l.p99),
            us(|l| l.p99_9),
            us(|l| l.max),
            r.errors
        );
    }
    out.push('\n');
    for (label, text) in summary_lines(s) {
        let _ = writeln!(out, "- **{label}**: {text}");
    }
    out
}

fn csv(s: &Sweep) -> String {
    let mut out = String::from(
        "step,label,connections,rate_per_s,throughput_rps,p50_us,p99_us,p99_9_us,p99_99_us,max_us,errors,completed,knee\n",
    );
    for (i, st) in s.steps.iter().enumerate() {
        let r = &st.report;
        // A step without replies has no percentiles: empty fields, never zeros.
        let us = |f: fn(&crate::report::LatencySummary) -> f64| {
            r.latency_us
                .as_ref()
                .map_or(String::new(), |l| f(l).to_string())
        };
        let _ = writeln!(
            out,
            "{i},\"{}\",{},{},{:.2},{},{},{},{},{},{},{},{}",
            st.label.replace('"', "'"),
            st.connections(),
            st.rate_per_s()
                .map_or(String::new(), |rate| format!("{rate:.2}")),
            r.throughput_rps,
            us(|l| l.p50),
            us(|l| l.p99),
            us(|l| l.p99_9),
            us(|l| l.p99_99),
            us(|l| l.max),
            r.errors,
            r.completed(),
            s.knee.step == Some(i)
        );
    }
    out
}
