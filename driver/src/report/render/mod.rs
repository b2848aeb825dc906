//! Every output of a result renders the one [`Report`] value: the terminal text a live run
//! prints is the same function `nines report` calls, so a saved result re-renders identically.

mod by_request;
pub mod csv;
pub mod flame;
pub mod hgrm;
pub mod hlog;
mod markdown;
mod resources;
mod stages;
mod storm;
pub mod sweep;
pub mod text;

use serde::{Deserialize, Serialize};

use super::Report;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// The terminal summary.
    Text,
    /// A Markdown section with tables, to paste into a pull request or a results file.
    Markdown,
    /// A header line and one row of figures, for spreadsheets.
    Csv,
    /// The corrected latency distribution as HdrHistogram's percentile text (.hgrm, in ms).
    Hgrm,
    /// The per-second histograms as an HdrHistogram interval log (.hlog).
    Hlog,
    /// The whole result, histograms included (what `--json` writes and `nines report` reads).
    Json,
}

nines_common::value_enum_display!(Format);

pub use nines_common::units::bytes_text;

/// p50, p99, p99.9 and max in µs with one decimal, `-` each without a latency: the columns a
/// table of parts of a result (mix lines, stages) ends with.
fn tail_cells(l: Option<&super::LatencySummary>) -> [String; 4] {
    let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    [
        cell(l.map(|l| l.p50)),
        cell(l.map(|l| l.p99)),
        cell(l.map(|l| l.p99_9)),
        cell(l.map(|l| l.max)),
    ]
}

impl Format {
    /// Whether several results render into one output of this format (tables do; a
    /// distribution or a log is one result's).
    pub fn takes_many(self) -> bool {
        matches!(self, Format::Text | Format::Markdown | Format::Csv)
    }
}

/// `report` in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text::render(report),
        Format::Markdown => markdown::render(report),
        Format::Csv => format!("{}\n{}\n", csv::HEADER, csv::rows(report).join("\n")),
        Format::Hgrm => hgrm::render(&report.histograms.corrected.0),
        Format::Hlog => hlog::render(report),
        Format::Json => json(report),
    }
}

/// Several results in one output: tables get one section (text, Markdown) or row (CSV) each.
pub fn render_many(reports: &[Report], format: Format) -> String {
    match format {
        Format::Csv => {
            let rows: Vec<String> = reports.iter().flat_map(csv::rows).collect();
            format!("{}\n{}\n", csv::HEADER, rows.join("\n"))
        }
        _ => reports
            .iter()
            .map(|r| render(r, format))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn json(report: &Report) -> String {
    // Numbers, strings, maps and lists only: serialization cannot fail.
    let mut s = serde_json::to_string_pretty(report).expect("report serializes");
    s.push('\n');
    s
}

/// A duration as the command line writes it (`10s`, `500ms`, `1.5s`).
pub fn secs_text(d: std::time::Duration) -> String {
    nines_common::units::HumanDuration(d).to_string()
}

/// How a title marks a server this process started.
fn embedded(r: &Report) -> &'static str {
    if r.embedded_server {
        " (embedded server)"
    } else {
        ""
    }
}
