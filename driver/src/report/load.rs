//! Results read back by one loader that says what a file is — one result ([`Report`]: a run, a
//! merge, or an HdrHistogram interval log) or a sweep — converting files saved by earlier
//! versions as it reads them. A file is judged by its first bytes before it is read, and read
//! no further than [`MAX_RESULT_BYTES`], so the wrong file costs a moment and no memory.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::render::text::bytes_text;
use super::sniff::{self, Sniffed};
use super::sweep::{self, Sweep};
use super::{v1, Report, FORMAT};

/// Largest result file read. A report keeps one histogram per second of measurement, 2-3 KB of
/// JSON each, so a day-long run's report is about 250 MB (docs/limits.md); four times that
/// leaves room for wider distributions and sweeps of long steps, and still refuses a wrong
/// multi-gigabyte file before reading it.
pub const MAX_RESULT_BYTES: u64 = 1 << 30;

/// A result file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a result at all.
    #[error("{path} is {what}")]
    NotAResult {
        /// The file.
        path: PathBuf,
        /// What it is instead ("empty", "a JSON array, not a nines report").
        what: String,
    },
    /// The file is larger than any result; it was not read.
    #[error("{path} is {}: larger than the {} a result file is read up to (a day-long run's report is about 250 MB)", size_text(*.bytes), bytes_text(MAX_RESULT_BYTES as f64))]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size, when known before reading (a regular file's).
        bytes: Option<u64>,
    },
    /// The file is a nines result or an interval log, but damaged or of an unknown version.
    #[error("{path}: {what}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

fn size_text(bytes: Option<u64>) -> String {
    match bytes {
        Some(b) => bytes_text(b as f64),
        None => format!("more than {}", bytes_text(MAX_RESULT_BYTES as f64)),
    }
}

/// Why bytes are no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a result at all: what it is instead, said after the file's name.
    #[error("is {0}")]
    NotAResult(String),
    /// A result or interval log, damaged or of an unknown version.
    #[error("{0}")]
    Damaged(String),
}

/// What a result file holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    /// One result: a run, results merged, or an interval log.
    Report(Box<Report>),
    /// A sweep, whose steps are results.
    Sweep(Box<Sweep>),
}

/// Reads a result file: a nines JSON report (`--json`, `nines merge --json`), a sweep
/// (`nines sweep --json`), or an HdrHistogram interval log (`--hlog`, or any tool's `.hlog`).
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    // A regular file's size is known before it is read; a pipe's is found by reading to the cap.
    let size = file
        .metadata()
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.len());
    let mut bytes = Vec::new();
    (&mut file)
        .take(sniff::HEAD_BYTES as u64)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let sniffed = sniff::sniff(&bytes, bytes.len() < sniff::HEAD_BYTES);
    if let Sniffed::Not(what) = sniffed {
        return Err(LoadError::NotAResult {
            path: path.to_path_buf(),
            what,
        });
    }
    let too_large = |bytes| LoadError::TooLarge {
        path: path.to_path_buf(),
        bytes,
    };
    if let Some(n) = size.filter(|&n| n > MAX_RESULT_BYTES) {
        return Err(too_large(Some(n)));
    }
    bytes.reserve_exact(size.map_or(0, |n| n as usize).saturating_sub(bytes.len()));
    file.take(MAX_RESULT_BYTES + 1 - bytes.len() as u64)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_RESULT_BYTES {
        return Err(too_large(None));
    }
    read(sniffed, &bytes, &path.display().to_string()).map_err(|e| match e {
        ParseError::NotAResult(what) => LoadError::NotAResult {
            path: path.to_path_buf(),
            what,
        },
        ParseError::Damaged(what) => LoadError::Format {
            path: path.to_path_buf(),
            what,
        },
    })
}

/// Reads one result; a sweep is an error that says where its steps' results are.
pub fn load_report(path: &Path) -> Result<Report, LoadError> {
    match load(path)? {
        Loaded::Report(r) => Ok(*r),
        Loaded::Sweep(_) => Err(LoadError::Format {
            path: path.to_path_buf(),
            what: SWEEP_NOT_RUN.to_string(),
        }),
    }
}

/// What a command that takes one result says of a sweep.
pub const SWEEP_NOT_RUN: &str = "a sweep, not one run: its steps are runs (nines sweep --report DIR writes each as DIR/step-NN/result.json, or nines report SWEEP.json --out DIR)";

/// A result from its bytes (`name` is used in what an interval log's errors say), judged by
/// its first bytes as [`load`] judges a file.
pub fn parse(bytes: &[u8], name: &str) -> Result<Loaded, ParseError> {
    read(sniff::sniff(bytes, true), bytes, name)
}

fn read(sniffed: Sniffed, bytes: &[u8], name: &str) -> Result<Loaded, ParseError> {
    let log = |bytes| {
        super::render::hlog::read(bytes, name)
            .map(|r| Loaded::Report(Box::new(r)))
            .map_err(ParseError::Damaged)
    };
    match sniffed {
        Sniffed::JsonObject => json(bytes).map_err(ParseError::Damaged),
        Sniffed::Log => log(bytes),
        Sniffed::ScalarOrLog => match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(v) => Err(ParseError::NotAResult(format!(
                "JSON but not a nines report: {}",
                sniff::quote_json(&v)
            ))),
            Err(_) => log(bytes),
        },
        Sniffed::Not(what) => Err(ParseError::NotAResult(what)),
    }
}

fn json(bytes: &[u8]) -> Result<Loaded, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON ({e})"))?;
    let format = value
        .get("format")
        .and_then(|f| f.as_str())
        .map(str::to_string);
    match format.as_deref() {
        Some(FORMAT) => report(value).map(|r| Loaded::Report(Box::new(r))),
        Some(v1::REPORT_V1) => report(v1::report(value)?).map(|r| Loaded::Report(Box::new(r))),
        Some(sweep::FORMAT) => read_sweep(value).map(|s| Loaded::Sweep(Box::new(s))),
        Some(v1::SWEEP_V1) => read_sweep(v1::sweep(value)?).map(|s| Loaded::Sweep(Box::new(s))),
        Some(other) => Err(format!(
            "a {other} file; this nines reads {FORMAT} and {} (and their /1 versions)",
            sweep::FORMAT
        )),
        None => Err(
            "not a nines result: no `format` key (results from before nines-report/1 kept no histograms: rerun the benchmark)"
                .to_string(),
        ),
    }
}

fn report(value: serde_json::Value) -> Result<Report, String> {
    let report: Report =
        serde_json::from_value(value).map_err(|e| format!("damaged report ({e})"))?;
    let held = report.histograms.corrected.0.len();
    if held != report.requests {
        return Err(format!(
            "damaged report: its histogram holds {held} replies but `requests` says {}",
            report.requests
        ));
    }
    Ok(report)
}

fn read_sweep(value: serde_json::Value) -> Result<Sweep, String> {
    let s: Sweep = serde_json::from_value(value).map_err(|e| format!("damaged sweep ({e})"))?;
    for (i, step) in s.steps.iter().enumerate() {
        let held = step.report.histograms.corrected.0.len();
        if held != step.report.requests {
            return Err(format!(
                "damaged sweep: step {} holds {held} replies but says {}",
                i + 1,
                step.report.requests
            ));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_reports_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("nines-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            (
                "old.json",
                "{\"requests\": 5}",
                "old.json: not a nines result: no `format` key",
            ),
            (
                "broken.json",
                "{\"format\": ",
                "broken.json: not valid JSON",
            ),
            (
                "future.json",
                "{\"format\": \"nines-report/9\"}",
                "this nines reads",
            ),
            (
                "junk.hlog",
                "hello\n1,2,3\n",
                "junk.hlog is not a nines report, sweep or HdrHistogram interval log",
            ),
            (
                "sweep.json",
                "{\"format\": \"nines-sweep/2\", \"steps\": []}",
                "damaged sweep",
            ),
            ("empty.json", "", "empty.json is empty"),
            (
                "null.json",
                "null\n",
                "null.json is JSON but not a nines report: null",
            ),
            (
                "text.json",
                "\"a string\"",
                "text.json is JSON but not a nines report: \"a string\"",
            ),
            (
                "list.json",
                "[1,2,3]",
                "list.json is a JSON array, not a nines report",
            ),
            (
                "nonsense.hlog",
                "0.1,1,2",
                "nonsense.hlog: not a valid HdrHistogram interval log",
            ),
        ];
        for (name, text, want) in cases {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            let e = load_report(&p).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains(want), "{e}");
        }
        assert!(matches!(
            load_report(&dir.join("missing.json")),
            Err(LoadError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_past_the_cap_is_refused_unread() {
        let dir = std::env::temp_dir().join(format!("nines-cap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("huge.json");
        let f = std::fs::File::create(&p).unwrap();
        std::io::Write::write_all(&mut &f, b"{\"format\": \"nines-report/2\"").unwrap();
        f.set_len(MAX_RESULT_BYTES + 1).unwrap(); // sparse: no disk, no memory
        let e = load(&p).unwrap_err();
        assert!(
            matches!(e, LoadError::TooLarge { bytes: Some(n), .. } if n == MAX_RESULT_BYTES + 1),
            "{e}"
        );
        assert!(e.to_string().contains("larger than the 1.0 GiB"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
