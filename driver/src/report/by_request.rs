//! Results per line of a request mix, beside the total: each line's replies, errors,
//! throughput and corrected latency, with its histogram so that merging two results adds the
//! lines' distributions exactly (lined up by name, as `nines compare` lines them up too).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::histogram::{self, Hist};
use super::LatencySummary;
use crate::config::Requests;
use crate::recorder::LineRecord;

/// One line's results.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestResult {
    /// The line's name (what an SLO clause's `[NAME]` refers to).
    pub name: String,
    /// The request, in words.
    pub request: String,
    /// Its weight in the mix.
    pub weight: u32,
    /// Its share of the requests asked for: its weight over all the weights.
    pub share: f64,
    /// Its measured replies.
    pub requests: u64,
    /// Its share of the measured replies.
    pub reply_share: f64,
    /// Its requests answered wrongly or rejected (timeouts and lost connections belong to the
    /// run's total: a connection is not one line's).
    pub errors: u64,
    /// Its measured replies per second.
    pub throughput_rps: f64,
    /// Its corrected latency. None without replies.
    pub latency_us: Option<LatencySummary>,
    /// Its corrected latency distribution (ns).
    pub histogram: Hist,
}

/// The lines of a run's mix with what each recorded (`lines` from the merged recorder), over
/// `duration_s` of measurement. Empty for a run of one request.
pub fn results(requests: &Requests, lines: &[LineRecord], duration_s: f64) -> Vec<RequestResult> {
    if !requests.is_mix() || lines.len() != requests.lines().len() {
        return Vec::new();
    }
    let total_weight: u64 = requests.lines().iter().map(|l| u64::from(l.weight)).sum();
    let mut out: Vec<RequestResult> = requests
        .lines()
        .iter()
        .zip(lines)
        .map(|(l, rec)| RequestResult {
            name: l.name.clone(),
            request: l.request.describe(),
            weight: l.weight,
            share: f64::from(l.weight) / total_weight as f64,
            requests: 0,
            reply_share: 0.0,
            errors: rec.errors,
            throughput_rps: 0.0,
            latency_us: None,
            histogram: Hist(rec.measured.clone()),
        })
        .collect();
    refigure(&mut out, duration_s);
    out
}

/// Computes each line's figures from its histogram and counts, over `duration_s`.
pub fn refigure(lines: &mut [RequestResult], duration_s: f64) {
    let total: u64 = lines.iter().map(|l| l.histogram.0.len()).sum();
    for l in lines {
        let h = &l.histogram.0;
        l.requests = h.len();
        l.reply_share = if total > 0 {
            l.requests as f64 / total as f64
        } else {
            0.0
        };
        l.throughput_rps = if duration_s > 0.0 {
            l.requests as f64 / duration_s
        } else {
            0.0
        };
        l.latency_us = LatencySummary::from_histogram(h);
    }
}

/// Adds `part`'s lines into `total`'s, by name (a line only one side has is kept as it is).
pub fn add(
    total: &mut Vec<RequestResult>,
    part: &[RequestResult],
) -> Result<(), histogram::HistogramError> {
    for p in part {
        match total.iter_mut().find(|t| t.name == p.name) {
            Some(t) => {
                let mut h: Histogram<u64> = histogram::growable();
                histogram::add(&mut h, &t.histogram.0)?;
                histogram::add(&mut h, &p.histogram.0)?;
                t.histogram = Hist(h);
                t.errors += p.errors;
            }
            None => total.push(p.clone()),
        }
    }
    Ok(())
}

/// The line named `name`, if the result has one.
pub fn find<'a>(lines: &'a [RequestResult], name: &str) -> Option<&'a RequestResult> {
    lines.iter().find(|l| l.name == name)
}
