//! A staged open loop's results stage by stage: what each stage asked for and what it got —
//! replies, throughput and corrected latency percentiles, and errors.
//!
//! A reply belongs to the stage its request was *due* in (the driver records it there as it
//! comes back), so a stage's count, throughput and percentiles are exactly its own requests',
//! however late they were answered, and a stage need not last whole seconds. Errors are those
//! counted in the seconds whose middle falls in the stage (the seconds after the last stage,
//! its last replies draining, count in the last).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::histogram::{self, Hist, HistogramError};
use super::{IntervalRecord, LatencySummary};
use crate::config::{Rate, Span};

/// One stage as measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageResult {
    /// Its number, from 1.
    pub stage: usize,
    /// When it started, seconds after the start of measurement.
    pub start_s: f64,
    /// How long it lasted.
    pub duration_s: f64,
    /// The rate it ramped from, requests per second.
    pub from_rps: f64,
    /// The rate it ramped to.
    pub to_rps: f64,
    /// Requests its schedule asked for.
    pub target_requests: f64,
    /// Replies to the requests due in it.
    pub requests: u64,
    /// Errors counted in its seconds.
    pub errors: u64,
    /// Its replies per second of the stage.
    pub throughput_rps: f64,
    /// Its replies' corrected latency (none without replies).
    pub latency_us: Option<LatencySummary>,
    /// Its replies' corrected latencies (ns): what merging adds.
    pub histogram: Hist,
}

impl StageResult {
    /// Its place on the timeline and its rates.
    pub fn span(&self) -> Span {
        Span {
            start_s: self.start_s,
            duration_s: self.duration_s,
            from_rps: self.from_rps,
            to_rps: self.to_rps,
        }
    }
}

/// An open loop's seconds each given the rate its schedule asked for over the part of them
/// inside the run's `window_s` (none: the run stopped at a count), and a staged run's stages
/// figured from each stage's histogram (`stages`, as the driver recorded them) and the seconds
/// (none for a steady rate).
pub fn targets(
    rate: &Rate,
    window_s: Option<f64>,
    stages: &[Histogram<u64>],
    intervals: &mut [IntervalRecord],
) -> Vec<StageResult> {
    let clamp = |t: f64| window_s.map_or(t, |w| t.min(w));
    for iv in intervals.iter_mut().filter(|iv| iv.duration_s > 0.0) {
        let expected = rate.expected_between(clamp(iv.start_s), clamp(iv.start_s + iv.duration_s));
        iv.target_rps = Some(expected / iv.duration_s);
    }
    match rate.stages() {
        Some(s) if s.list().len() == stages.len() => {
            let spans: Vec<Span> = s.spans().collect();
            results(&spans, stages.to_vec(), intervals)
        }
        _ => Vec::new(),
    }
}

/// Each stage of `spans` with its replies' histogram, its errors from `intervals`.
pub fn results(
    spans: &[Span],
    hists: Vec<Histogram<u64>>,
    intervals: &[IntervalRecord],
) -> Vec<StageResult> {
    let mut errors = vec![0u64; spans.len()];
    for iv in intervals {
        let middle = iv.start_s + iv.duration_s / 2.0;
        if let Some(i) = spans.iter().rposition(|s| s.start_s <= middle) {
            errors[i] += iv.errors;
        }
    }
    spans
        .iter()
        .zip(hists)
        .zip(errors)
        .enumerate()
        .map(|(i, ((s, h), errors))| StageResult {
            stage: i + 1,
            start_s: s.start_s,
            duration_s: s.duration_s,
            from_rps: s.from_rps,
            to_rps: s.to_rps,
            target_requests: (s.from_rps + s.to_rps) / 2.0 * s.duration_s,
            requests: h.len(),
            errors,
            throughput_rps: h.len() as f64 / s.duration_s,
            latency_us: LatencySummary::from_histogram(&h),
            histogram: Hist(h),
        })
        .collect()
}

/// The stages of parts run side by side, as one: their rates and histograms added, figured
/// again with the merged seconds' errors; none when the parts' stages are unlike.
pub fn merged(
    parts: &[&[StageResult]],
    intervals: &[IntervalRecord],
) -> Result<Vec<StageResult>, HistogramError> {
    let Some(spans) = merged_spans(parts) else {
        return Ok(Vec::new());
    };
    let mut hists = Vec::with_capacity(spans.len());
    for i in 0..spans.len() {
        let mut total = histogram::growable();
        for p in parts {
            histogram::add(&mut total, &p[i].histogram.0)?;
        }
        hists.push(total);
    }
    Ok(results(&spans, hists, intervals))
}

/// The stages of parts run side by side, as one: their rates added, when every part ran the
/// same stages' timings (else none: a merge of unlike runs has no stages).
fn merged_spans(parts: &[&[StageResult]]) -> Option<Vec<Span>> {
    let (first, rest) = parts.split_first()?;
    let same_timing = |other: &&[StageResult]| {
        other.len() == first.len()
            && other
                .iter()
                .zip(first.iter())
                .all(|(a, b)| a.start_s == b.start_s && a.duration_s == b.duration_s)
    };
    if first.is_empty() || !rest.iter().all(same_timing) {
        return None;
    }
    Some(
        (0..first.len())
            .map(|i| Span {
                from_rps: parts.iter().map(|p| p[i].from_rps).sum(),
                to_rps: parts.iter().map(|p| p[i].to_rps).sum(),
                ..first[i].span()
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Stages;
    use crate::recorder::new_histogram;

    fn hist(latency_ns: u64, n: u64) -> Histogram<u64> {
        let mut h = new_histogram();
        h.record_n(latency_ns, n).unwrap();
        h
    }

    fn second(start_s: f64, duration_s: f64, errors: u64) -> IntervalRecord {
        IntervalRecord::new(start_s, duration_s, &new_histogram(), errors)
    }

    #[test]
    fn a_stage_has_its_own_requests_and_the_errors_of_its_seconds() {
        let spans: Vec<Span> = Stages::parse("2s:100,2s:100").unwrap().spans().collect();
        let secs = [
            second(0.0, 1.0, 1),
            second(1.0, 1.0, 1),
            second(2.0, 1.0, 1),
            second(3.0, 1.0, 1),
            second(4.0, 0.01, 1),
        ];
        let r = results(&spans, vec![hist(10_000, 100), hist(2_000_000, 190)], &secs);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].requests, r[0].errors, r[0].target_requests),
            (100, 2, 100.0)
        );
        assert_eq!(
            (r[1].requests, r[1].errors, r[1].target_requests),
            (190, 3, 200.0)
        );
        assert_eq!((r[0].throughput_rps, r[1].throughput_rps), (50.0, 95.0));
        let (a, b) = (r[0].latency_us.unwrap(), r[1].latency_us.unwrap());
        assert!(a.p99 < 11.0 && b.p50 > 1900.0, "{a:?} {b:?}");
        // Two drivers running the same stages: rates and replies add up; unlike stages do not
        // merge.
        let m = merged(&[&r, &r], &secs).unwrap();
        assert_eq!(
            (m[1].from_rps, m[1].to_rps, m[1].requests),
            (200.0, 200.0, 380)
        );
        assert_eq!(m[1].target_requests, 400.0);
        let other_spans: Vec<Span> = Stages::parse("4s:100").unwrap().spans().collect();
        let other = results(&other_spans, vec![hist(1, 1)], &secs);
        assert!(merged(&[&r, &other], &secs).unwrap().is_empty());
    }

    #[test]
    fn seconds_past_the_window_are_asked_for_nothing() {
        let rate = Rate::Staged {
            stages: Stages::parse("1s:100,1s:100").unwrap(),
        };
        let mut secs = [
            second(0.0, 1.0, 0),
            second(1.0, 1.0, 0),
            second(2.0, 0.5, 0),
        ];
        let stages = targets(&rate, Some(2.0), &[hist(1, 50), hist(1, 100)], &mut secs);
        let t: Vec<f64> = secs.iter().map(|s| s.target_rps.unwrap()).collect();
        assert!(
            (t[0] - 50.0).abs() < 1e-9 && (t[1] - 100.0).abs() < 1e-9 && t[2] == 0.0,
            "{t:?}"
        );
        assert_eq!(stages[1].requests, 100);
    }
}
