//! One second of measurement as a report keeps it: its replies' corrected latencies (packed),
//! errors, bytes received, and connections opened and lost.

use serde::{Deserialize, Serialize};

use super::histogram::Packed;
use super::LatencySummary;

/// One second of measurement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntervalRecord {
    /// Start, seconds after the start of measurement.
    pub start_s: f64,
    /// Length in seconds (the last one may be short).
    pub duration_s: f64,
    /// Replies received in it.
    pub requests: u64,
    /// Errors counted in it.
    pub errors: u64,
    /// Their corrected latency (none without replies).
    pub latency_us: Option<LatencySummary>,
    /// Their corrected latencies.
    pub histogram: Packed,
    /// Bytes read from the target in it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub received_bytes: u64,
    /// The rate the open loop's schedule asked for over it, requests per second (a staged
    /// run's changes second by second); none in closed loop and storms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_rps: Option<f64>,
    /// What the target and the driver held at its end (read from /proc, or from a remote
    /// nines-server's Stats reply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<super::resources::Held>,
    /// Connections established in it (storms, reconnects).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub connections_opened: u64,
    /// Established connections lost in it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub connections_lost: u64,
    /// Connections the driver closed in it (a storm's sessions ending).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub connections_closed: u64,
}

impl IntervalRecord {
    /// A second that started `start_s` after measurement began and lasted `duration_s`, with
    /// the corrected latencies of its replies and its error count.
    pub fn new(
        start_s: f64,
        duration_s: f64,
        hist: &hdrhistogram::Histogram<u64>,
        errors: u64,
    ) -> IntervalRecord {
        IntervalRecord {
            start_s,
            duration_s,
            requests: hist.len(),
            errors,
            latency_us: LatencySummary::from_histogram(hist),
            histogram: Packed::pack(hist),
            received_bytes: 0,
            target_rps: None,
            held: None,
            connections_opened: 0,
            connections_lost: 0,
            connections_closed: 0,
        }
    }
}

impl IntervalRecord {
    /// What was held at its end, and when (seconds into the measurement), if it was read.
    pub fn held_at(&self) -> Option<(f64, super::resources::Held)> {
        Some((self.start_s + self.duration_s, self.held?))
    }
}

pub(crate) fn is_zero(n: &u64) -> bool {
    *n == 0
}
