//! HdrHistogram interval logs (`.hlog`): one compressed histogram per second of measurement, in
//! the standard format HdrHistogram's own tools (HistogramLogProcessor, the plotters) read.
//! Written from a report's intervals; read back as a report, so `nines merge` and
//! `nines report` take logs from any HdrHistogram tool as well as nines' own JSON.

use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry,
};
use hdrhistogram::serialization::V2DeflateSerializer;

use crate::report::histogram::{self, growable, Hist};
use crate::report::{skeleton, Histograms, IntervalRecord, Origin, Report};

/// The report's intervals as an interval log.
pub fn render(r: &Report) -> String {
    let mut buf = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let start_unix_s = r.measure_start_unix_s + r.intervals.first().map_or(0.0, |i| i.start_s);
    let t = UNIX_EPOCH + Duration::from_secs_f64(start_unix_s.max(0.0));
    let mut builder = IntervalLogWriterBuilder::new();
    builder
        .add_comment("nines interval log: corrected latencies in nanoseconds")
        .with_start_time(t)
        .with_base_time(t)
        .with_max_value_divisor(1e6);
    // Writing into a Vec cannot fail; every histogram in a loaded report was decoded once.
    let mut w = builder
        .begin_log_with(&mut buf, &mut serializer)
        .expect("writing to memory");
    w.write_comment("Legend: start offset (s), interval length (s), max (ms), histogram")
        .expect("writing to memory");
    for iv in &r.intervals {
        let Ok(h) = iv.histogram.unpack() else {
            continue;
        };
        let offset = (r.measure_start_unix_s + iv.start_s - start_unix_s).max(0.0);
        let _ = w.write_histogram(
            &h,
            Duration::from_secs_f64(offset),
            Duration::from_secs_f64(iv.duration_s.max(0.0)),
            None,
        );
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Reads an interval log as a result; the error says what is wrong.
pub fn read(bytes: &[u8], file: &str) -> Result<Report, String> {
    let mut total = growable();
    let mut seconds: Vec<(f64, f64, hdrhistogram::Histogram<u64>)> = Vec::new();
    let mut base = None::<f64>;
    for entry in IntervalLogIterator::new(bytes) {
        match entry.map_err(|e| format!("not a valid HdrHistogram interval log ({e:?})"))? {
            LogEntry::StartTime(t) => {
                base.get_or_insert(t.as_secs_f64());
            }
            LogEntry::BaseTime(t) => base = Some(t.as_secs_f64()),
            LogEntry::Interval(iv) => {
                let n = seconds.len();
                let h = histogram::decode(iv.encoded_histogram())
                    .map_err(|e| format!("interval {n}: {e}"))?;
                histogram::add(&mut total, &h).map_err(|e| format!("interval {n}: {e}"))?;
                let start = base.unwrap_or(0.0) + iv.start_timestamp().as_secs_f64();
                seconds.push((start, iv.duration().as_secs_f64(), h));
            }
        }
    }
    if seconds.is_empty() {
        return Err("not a valid HdrHistogram interval log (no interval histograms in it)".into());
    }
    let first = seconds.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let last = seconds.iter().map(|s| s.0 + s.1).fold(0.0, f64::max);
    let intervals = seconds
        .iter()
        .map(|(start, duration_s, h)| IntervalRecord::new(start - first, *duration_s, h, 0))
        .collect();
    let histograms = Histograms::corrected_only(Hist(total));
    let origin = Origin::IntervalLog {
        file: file.to_string(),
    };
    Ok(skeleton(origin, histograms, last - first, first, intervals))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::new_histogram;

    fn log_of(start: f64, seconds: &[&[u64]]) -> String {
        let intervals = seconds
            .iter()
            .enumerate()
            .map(|(i, values)| {
                let mut h = new_histogram();
                for &v in *values {
                    h.record(v).unwrap();
                }
                IntervalRecord::new(i as f64, 1.0, &h, 0)
            })
            .collect();
        let origin = Origin::IntervalLog { file: "x".into() };
        render(&skeleton(
            origin,
            Histograms::corrected_only(Hist(new_histogram())),
            0.0,
            start,
            intervals,
        ))
    }

    #[test]
    fn logs_round_trip_with_their_times() {
        let text = log_of(1_700_000_000.0, &[&[10_000; 60], &[10_000; 39]]);
        assert!(text.contains("#[StartTime: 1700000000.000"), "{text}");
        assert!(text.contains("#[BaseTime: 1700000000.000"));
        let r = read(text.as_bytes(), "a.hlog").unwrap();
        assert_eq!((r.requests, r.intervals.len()), (99, 2));
        assert!((r.measure_start_unix_s - 1_700_000_000.0).abs() < 0.01);
        assert!((r.duration_s - 2.0).abs() < 0.01);
        assert_eq!(
            r.origin,
            Origin::IntervalLog {
                file: "a.hlog".into()
            }
        );
        assert!(read(b"this is not a log\n1,2,3\n", "junk").is_err());
    }
}
