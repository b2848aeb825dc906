//! Results on disk: written atomically (temp file, fsync, rename), and read back by one loader
//! that says what a file is — one result ([`Report`]: a run, a merge, or an HdrHistogram
//! interval log) or a sweep — converting files saved by earlier versions as it reads them.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::sweep::{self, Sweep};
use super::{v1, Report, FORMAT};

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
    /// The file is neither a nines result nor an interval log, or is damaged.
    #[error("{path}: {what}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
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
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes, &path.display().to_string()).map_err(|what| LoadError::Format {
        path: path.to_path_buf(),
        what,
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

/// A result from its bytes (`name` is used in what an interval log's errors say): JSON when
/// the first non-blank byte is `{`, else an interval log. Err says what is wrong.
pub fn parse(bytes: &[u8], name: &str) -> Result<Loaded, String> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return super::render::hlog::read(bytes, name).map(|r| Loaded::Report(Box::new(r)));
    }
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

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to disk,
/// then renamed over `path`, so a reader never sees half a result and an interrupted write never
/// destroys the previous one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "output path has no file name",
        )
    })?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("nines-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("r.json");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(write_atomic(&dir.join("missing-dir").join("x.json"), b"x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn files_that_are_not_reports_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("nines-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            ("old.json", "{\"requests\": 5}", "no `format` key"),
            ("broken.json", "{\"format\": ", "not valid JSON"),
            (
                "future.json",
                "{\"format\": \"nines-report/9\"}",
                "this nines reads",
            ),
            ("junk.hlog", "hello\n1,2,3\n", "interval log"),
            (
                "sweep.json",
                "{\"format\": \"nines-sweep/2\", \"steps\": []}",
                "damaged sweep",
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
}
