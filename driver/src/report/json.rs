//! JSON rendering of a [`Report`].

use std::path::Path;

use super::{write_atomic, Report};

/// The report as pretty JSON.
pub fn to_json(report: &Report) -> String {
    // Every field is a plain number, string, map or vec: serialization cannot fail.
    serde_json::to_string_pretty(report).expect("report serializes")
}

/// Writes the report as JSON to `path`, atomically.
pub fn write_json(report: &Report, path: &Path) -> std::io::Result<()> {
    let mut s = to_json(report);
    s.push('\n');
    write_atomic(path, s.as_bytes())
}
