//! Results on disk: written atomically (temp file, fsync, rename), read back as a [`Report`]
//! whether the file is a nines JSON report or an HdrHistogram interval log.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Report, FORMAT};

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
    /// The file is neither a nines report nor an interval log, or is damaged.
    #[error("{path}: {what}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// Reads a result: a nines JSON report (`nines bench --json`, `nines merge --json`), or an
/// HdrHistogram interval log (`--hlog`, or any tool's `.hlog`).
pub fn load(path: &Path) -> Result<Report, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes, &path.display().to_string()).map_err(|what| LoadError::Format {
        path: path.to_path_buf(),
        what,
    })
}

/// A result from its bytes (`name` is used in what an interval log's errors say): JSON when
/// the first non-blank byte is `{`, else an interval log. Err says what is wrong.
pub fn parse(bytes: &[u8], name: &str) -> Result<Report, String> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return super::render::hlog::read(bytes, name);
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON ({e})"))?;
    match value.get("format").and_then(|f| f.as_str()) {
        Some(FORMAT) => {}
        Some(crate::sweep::FORMAT) => {
            return Err(
                "a sweep, not one run: its steps are runs (nines sweep --report DIR writes each as DIR/step-NN/result.json, or nines report SWEEP.json --out DIR)"
                    .to_string(),
            )
        }
        Some(other) => return Err(format!("a {other} report; this nines reads {FORMAT}")),
        None => {
            return Err(format!(
                "not a {FORMAT} report (no `format` key; reports from earlier nines versions carry no histograms: rerun the benchmark)"
            ))
        }
    }
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
                "{\"format\": \"nines-sweep/1\"}",
                "a sweep, not one run",
            ),
        ];
        for (name, text, want) in cases {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            let e = load(&p).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains(want), "{e}");
        }
        assert!(matches!(
            load(&dir.join("missing.json")),
            Err(LoadError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
