//! A staged open loop's results stage by stage: what each stage asked for and what it got —
//! replies, errors, throughput and corrected latency percentiles — figured from the run's
//! seconds, so a merged result (whose seconds are the parts' added) is figured the same way.
//!
//! A second belongs to the stage its middle falls in; the seconds after the last stage (the
//! last replies draining) belong to the last. Stages of whole seconds are therefore exact;
//! a stage boundary inside a second puts that second in one of the two.

use serde::{Deserialize, Serialize};

use super::histogram::{self, growable};
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
    /// Replies received in its seconds.
    pub requests: u64,
    /// Errors counted in its seconds.
    pub errors: u64,
    /// Its replies per second.
    pub throughput_rps: f64,
    /// Its replies' corrected latency (none without replies).
    pub latency_us: Option<LatencySummary>,
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

/// An open loop's seconds each given the rate its schedule asked for over them; a staged run's
/// stages figured from them (none for a steady rate).
pub fn targets(rate: &Rate, intervals: &mut [IntervalRecord]) -> Vec<StageResult> {
    for iv in intervals.iter_mut().filter(|iv| iv.duration_s > 0.0) {
        let expected = rate.expected_between(iv.start_s, iv.start_s + iv.duration_s);
        iv.target_rps = Some(expected / iv.duration_s);
    }
    rate.stages().map_or_else(Vec::new, |stages| {
        results(&stages.spans().collect::<Vec<_>>(), intervals)
    })
}

/// Each stage of `spans` figured from `intervals` (a second whose histogram cannot be read
/// adds its counts but no latencies).
pub fn results(spans: &[Span], intervals: &[IntervalRecord]) -> Vec<StageResult> {
    let mut out: Vec<(StageResult, hdrhistogram::Histogram<u64>)> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let stage = StageResult {
                stage: i + 1,
                start_s: s.start_s,
                duration_s: s.duration_s,
                from_rps: s.from_rps,
                to_rps: s.to_rps,
                target_requests: (s.from_rps + s.to_rps) / 2.0 * s.duration_s,
                requests: 0,
                errors: 0,
                throughput_rps: 0.0,
                latency_us: None,
            };
            (stage, growable())
        })
        .collect();
    for iv in intervals {
        let middle = iv.start_s + iv.duration_s / 2.0;
        let Some((stage, hist)) = out.iter_mut().rev().find(|(s, _)| s.start_s <= middle) else {
            continue;
        };
        stage.requests += iv.requests;
        stage.errors += iv.errors;
        if let Ok(h) = iv.histogram.unpack() {
            // A growable histogram takes any other's values.
            let _ = histogram::add(hist, &h);
        }
    }
    out.into_iter()
        .map(|(mut s, h)| {
            s.throughput_rps = s.requests as f64 / s.duration_s;
            s.latency_us = LatencySummary::from_histogram(&h);
            s
        })
        .collect()
}

/// The stages of parts run side by side, as one: their rates added, when every part ran the
/// same stages' timings (else none: a merge of unlike runs has no stages).
pub fn merged_spans(parts: &[&[StageResult]]) -> Option<Vec<Span>> {
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

    fn second(start_s: f64, duration_s: f64, latency_ns: u64, n: u64) -> IntervalRecord {
        let mut h = new_histogram();
        h.record_n(latency_ns, n).unwrap();
        IntervalRecord::new(start_s, duration_s, &h, 1)
    }

    #[test]
    fn each_second_goes_to_the_stage_it_falls_in_and_the_drain_to_the_last() {
        let spans: Vec<Span> = Stages::parse("2s:100,2s:100").unwrap().spans().collect();
        let secs = [
            second(0.0, 1.0, 10_000, 50),
            second(1.0, 1.0, 20_000, 150),
            second(2.0, 1.0, 1_000_000, 100),
            second(3.0, 1.0, 2_000_000, 100),
            second(4.0, 0.01, 3_000_000, 2),
        ];
        let r = results(&spans, &secs);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].requests, r[0].errors, r[0].target_requests),
            (200, 2, 100.0)
        );
        assert_eq!(
            (r[1].requests, r[1].errors, r[1].target_requests),
            (202, 3, 200.0)
        );
        assert_eq!(r[0].throughput_rps, 100.0);
        let (a, b) = (r[0].latency_us.unwrap(), r[1].latency_us.unwrap());
        assert!(a.p99 < 21.0 && b.p50 > 900.0, "{a:?} {b:?}");
        // Two drivers running the same stages: rates add up; unlike stages do not merge.
        let merged = merged_spans(&[&r, &r]).unwrap();
        assert_eq!((merged[1].from_rps, merged[1].to_rps), (200.0, 200.0));
        let other = results(
            &Stages::parse("4s:100").unwrap().spans().collect::<Vec<_>>(),
            &secs,
        );
        assert_eq!(merged_spans(&[&r, &other]), None);
    }
}
