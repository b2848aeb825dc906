//! HdrHistogram interval logs (`.hlog`): one compressed histogram per second of measurement, in
//! the standard format HdrHistogram's own tools (HistogramLogProcessor, the plotters) read.
//!
//! Merging the logs of several driver machines gives one true distribution for the whole
//! fleet: histograms are added count by count, never averaged percentile by percentile.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

use super::write_atomic;
use crate::run::Interval;

/// Collects intervals as they complete and writes the log atomically at the end, so a reader
/// never sees a half-written log (and a run cut short still produces a complete one).
pub struct HlogWriter {
    path: PathBuf,
    buf: Vec<u8>,
    base_unix_s: Option<f64>,
    serializer: V2DeflateSerializer,
}

/// A log that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HlogError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not an interval log, or an entry is damaged.
    #[error("{path}: not a valid HdrHistogram interval log ({what})")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

impl std::fmt::Debug for HlogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlogWriter")
            .field("path", &self.path)
            .field("bytes", &self.buf.len())
            .finish()
    }
}

impl HlogWriter {
    /// A writer for `path` (nothing is written until [`HlogWriter::finish`]).
    pub fn new(path: &Path) -> HlogWriter {
        HlogWriter {
            path: path.to_path_buf(),
            buf: Vec::new(),
            base_unix_s: None,
            serializer: V2DeflateSerializer::new(),
        }
    }

    /// Appends one interval; the first one fixes the log's start and base time.
    pub fn append(&mut self, iv: &Interval) -> std::io::Result<()> {
        let mut builder = IntervalLogWriterBuilder::new();
        let base = match self.base_unix_s {
            Some(b) => b,
            None => {
                let t = UNIX_EPOCH + Duration::from_secs_f64(iv.start_unix_s.max(0.0));
                builder
                    .add_comment("nines interval log: corrected latencies in nanoseconds")
                    .with_start_time(t)
                    .with_base_time(t)
                    .with_max_value_divisor(1e6);
                self.base_unix_s = Some(iv.start_unix_s);
                iv.start_unix_s
            }
        };
        let mut w = builder.begin_log_with(&mut self.buf, &mut self.serializer)?;
        if base == iv.start_unix_s && iv.index == 0 {
            w.write_comment("Legend: start offset (s), interval length (s), max (ms), histogram")?;
        }
        w.write_histogram(
            &iv.hist,
            Duration::from_secs_f64((iv.start_unix_s - base).max(0.0)),
            Duration::from_secs_f64(iv.duration_s.max(0.0)),
            None,
        )
        .map_err(|e| std::io::Error::other(format!("{e:?}")))
    }

    /// Writes the log to its path.
    pub fn finish(self) -> std::io::Result<()> {
        write_atomic(&self.path, &self.buf)
    }
}

/// Everything read from one or more interval logs.
#[derive(Debug, Clone)]
pub struct MergedLogs {
    /// All intervals of all logs added together.
    pub histogram: Histogram<u64>,
    /// Interval histograms read.
    pub intervals: u64,
    /// Earliest interval start, seconds since the Unix epoch.
    pub first_unix_s: f64,
    /// Latest interval end, seconds since the Unix epoch.
    pub last_unix_s: f64,
}

/// Reads and adds up every interval of every log.
pub fn merge_logs(paths: &[PathBuf]) -> Result<MergedLogs, HlogError> {
    let mut total = Histogram::<u64>::new(3).expect("3 significant digits is valid");
    total.auto(true);
    let mut merged = MergedLogs {
        histogram: total,
        intervals: 0,
        first_unix_s: f64::INFINITY,
        last_unix_s: 0.0,
    };
    let mut de = Deserializer::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|source| HlogError::Io {
            path: path.clone(),
            source,
        })?;
        let bad = |what: String| HlogError::Format {
            path: path.clone(),
            what,
        };
        let mut base = 0.0f64;
        let mut seen = 0u64;
        for entry in IntervalLogIterator::new(&bytes) {
            match entry.map_err(|e| bad(format!("{e:?}")))? {
                LogEntry::StartTime(t) if base == 0.0 => base = t.as_secs_f64(),
                LogEntry::StartTime(_) => {}
                LogEntry::BaseTime(t) => base = t.as_secs_f64(),
                LogEntry::Interval(iv) => {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(iv.encoded_histogram())
                        .map_err(|e| bad(format!("interval {seen}: {e}")))?;
                    let h: Histogram<u64> = de
                        .deserialize(&mut Cursor::new(raw))
                        .map_err(|e| bad(format!("interval {seen}: {e:?}")))?;
                    merged
                        .histogram
                        .add(&h)
                        .map_err(|e| bad(format!("interval {seen}: {e:?}")))?;
                    let start = base + iv.start_timestamp().as_secs_f64();
                    merged.first_unix_s = merged.first_unix_s.min(start);
                    merged.last_unix_s =
                        merged.last_unix_s.max(start + iv.duration().as_secs_f64());
                    merged.intervals += 1;
                    seen += 1;
                }
            }
        }
        if seen == 0 {
            return Err(bad("no interval histograms in it".into()));
        }
    }
    Ok(merged)
}

/// Seconds since the Unix epoch now.
pub fn unix_now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::new_histogram;

    fn interval(index: u64, start: f64, values_ns: &[u64]) -> Interval {
        let mut hist = new_histogram();
        for &v in values_ns {
            hist.record(v).unwrap();
        }
        Interval {
            index,
            start_unix_s: start,
            duration_s: 1.0,
            hist,
        }
    }

    #[test]
    fn logs_round_trip_and_merge_counts_not_percentiles() {
        let dir = std::env::temp_dir().join(format!("nines-hlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.hlog"), dir.join("b.hlog"));
        // Machine A: 99 fast requests; machine B: 1 slow one. Averaging the two machines' p99s
        // would be wrong; the merged p99 must come from all 100 values.
        let mut w = HlogWriter::new(&a);
        w.append(&interval(0, 1_700_000_000.0, &[10_000; 60]))
            .unwrap();
        w.append(&interval(1, 1_700_000_001.0, &[10_000; 39]))
            .unwrap();
        w.finish().unwrap();
        let mut w = HlogWriter::new(&b);
        w.append(&interval(0, 1_700_000_000.5, &[900_000_000]))
            .unwrap();
        w.finish().unwrap();
        let text = std::fs::read_to_string(&a).unwrap();
        assert!(text.contains("#[StartTime: 1700000000.000"), "{text}");
        assert!(text.contains("#[BaseTime: 1700000000.000"));
        let m = merge_logs(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(m.histogram.len(), 100);
        assert_eq!(m.intervals, 3);
        assert!(m.histogram.value_at_quantile(0.99) < 11_000);
        assert!(m.histogram.max() >= 899_000_000);
        assert!((m.first_unix_s - 1_700_000_000.0).abs() < 0.01);
        assert!((m.last_unix_s - 1_700_000_002.0).abs() < 0.01);
        // Garbage is an error naming the file, not a panic.
        let junk = dir.join("junk.hlog");
        std::fs::write(&junk, b"this is not a log\n1,2,3\n").unwrap();
        assert!(matches!(merge_logs(&[junk]), Err(HlogError::Format { .. })));
        assert!(matches!(
            merge_logs(&[dir.join("missing.hlog")]),
            Err(HlogError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
