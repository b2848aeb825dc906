//! The sections of a report beside its latency: the load and what its model measured, the
//! warm-up, the bytes moved, the driver's own side, and the server's time (`nines profile`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::interval::is_zero;
use super::storm::StormSummary;
use super::LatencySummary;

/// The load as a result tells it: the model, and what that model measured besides latency.
/// Every renderer, the diagnosis, merge and compare match on this one value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum LoadSummary {
    /// Each connection kept its requests in flight (latency from each send).
    ClosedLoop,
    /// Requests fell due on a schedule (latency from each due time).
    OpenLoop(OpenLoopSummary),
    /// Connections opened at a rate and held, each echoing a message every interval.
    Storm(Box<StormSummary>),
    /// Merged results of different models.
    Mixed,
    /// Not known: an interval log says nothing about the load that made it.
    Unknown,
}

/// A load model without its figures: what the `model` tag of a `load` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// See [`LoadSummary::ClosedLoop`].
    ClosedLoop,
    /// See [`LoadSummary::OpenLoop`].
    OpenLoop,
    /// See [`LoadSummary::Storm`].
    Storm,
    /// See [`LoadSummary::Mixed`].
    Mixed,
    /// See [`LoadSummary::Unknown`].
    Unknown,
}

impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The name serde gives it, as the JSON's `model` tag spells it: named in one place.
        let name = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        f.write_str(name.as_str().unwrap_or_default())
    }
}

impl LoadSummary {
    /// The model, without its figures.
    pub fn model(&self) -> Model {
        match self {
            LoadSummary::ClosedLoop => Model::ClosedLoop,
            LoadSummary::OpenLoop(_) => Model::OpenLoop,
            LoadSummary::Storm(_) => Model::Storm,
            LoadSummary::Mixed => Model::Mixed,
            LoadSummary::Unknown => Model::Unknown,
        }
    }

    /// The lateness against due times the driver measured (open loop: schedule lag; storm:
    /// send lag); none for loads without due times.
    pub fn lag_us(&self) -> Option<LatencySummary> {
        match self {
            LoadSummary::OpenLoop(o) => o.schedule_lag_us,
            LoadSummary::Storm(s) => s.send_lag_us,
            LoadSummary::ClosedLoop | LoadSummary::Mixed | LoadSummary::Unknown => None,
        }
    }
}

/// Open-loop figures: what was asked, what was achieved, how late the driver was.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpenLoopSummary {
    /// The requested rate (`--rate`).
    pub requested_rps: f64,
    /// Replies per second actually measured.
    pub achieved_rps: f64,
    /// Arrival process.
    pub arrival: crate::schedule::Arrival,
    /// Seed of the arrival process.
    pub seed: u64,
    /// How late the driver sent due requests, from when a slot was free (none if none sent).
    pub schedule_lag_us: Option<LatencySummary>,
}

/// Bytes moved during the measurement: a download benchmark is judged in bytes per second.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct Transfer {
    /// Bytes read from the target (replies as they came off the wire: heads, bodies, frames).
    pub received_bytes: u64,
    /// `received_bytes` over the measured seconds.
    pub received_bytes_per_s: f64,
    /// Bytes written to the target.
    pub sent_bytes: u64,
    /// `sent_bytes` over the measured seconds.
    pub sent_bytes_per_s: f64,
}

impl Transfer {
    /// `received` and `sent` bytes over `duration_s` seconds.
    pub fn over(received_bytes: u64, sent_bytes: u64, duration_s: f64) -> Transfer {
        let per_s = |b: u64| {
            if duration_s > 0.0 {
                b as f64 / duration_s
            } else {
                0.0
            }
        };
        Transfer {
            received_bytes,
            received_bytes_per_s: per_s(received_bytes),
            sent_bytes,
            sent_bytes_per_s: per_s(sent_bytes),
        }
    }
}

/// Warm-up figures, kept apart from the measurement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WarmupSummary {
    /// Replies recorded during warm-up.
    pub requests: u64,
    /// Warm-up length in seconds.
    pub duration_s: f64,
    /// Warm-up latency (none without replies).
    pub latency_us: Option<LatencySummary>,
}

/// The driver's own side of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct DriverSummary {
    /// Driver threads used.
    pub threads: usize,
    /// Connections asked for.
    pub connections: u64,
    /// Connections established.
    pub connections_opened: u64,
    /// Established connections lost before the end.
    pub connections_lost: u64,
    /// Failed connects by OS error name (`EMFILE`, `ECONNREFUSED`, `ETIMEDOUT`, ...).
    pub connect_failures: BTreeMap<String, u64>,
    /// Seconds until every connection was established (or gave up): the slowest thread's.
    pub connect_s: f64,
    /// Requests written (warm-up included). Each ended as a reply or a request-level error,
    /// or was still in flight when the run was stopped early.
    pub requests_sent: u64,
    /// Requests in flight when the run was stopped early.
    pub in_flight_at_stop: u64,
    /// Replies the server marked CAPPED (it did less than asked).
    pub capped_replies: u64,
    /// Replies by kind, warm-up included: HTTP status (`200`), RESP reply type (`bulk`,
    /// `error WRONGTYPE`). Absent for protocols without kinds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reply_kinds: BTreeMap<String, u64>,
    /// Connections dropped for bytes that were no reply, by what was wrong
    /// (`http_status_line`, `resp_type`, `ws_masked`, `bad_magic`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub decode_failures: BTreeMap<String, u64>,
    /// Connections the server closed after a reply as it said it would (HTTP `Connection:
    /// close`), opened again by the driver.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reconnects: u64,
    /// Each thread's CPU time as a percentage of its wall time while loading.
    pub thread_cpu_pct: Vec<f64>,
    /// The same without time spent spinning idle for the next due request (open loop). Near 100
    /// means that thread, not the server, may have limited the result.
    pub thread_busy_pct: Vec<f64>,
}

/// Where a nines-server's time went during the run (`nines profile`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProfileSummary {
    /// Share of server time accepting connections (%).
    pub accept_pct: f64,
    /// Share reading requests (%).
    pub read_pct: f64,
    /// Share decoding, handling and encoding (%).
    pub process_pct: f64,
    /// Share writing replies (%).
    pub write_pct: f64,
    /// Share of everything else while awake: event dispatch, wakeups, bookkeeping (%).
    pub overhead_pct: f64,
    /// The largest phase: accept, read, process, write or overhead.
    pub bottleneck: String,
    /// Server nanoseconds the shares divide.
    pub profiled_ns: u64,
    /// Requests the server handled between the two snapshots.
    pub server_requests: u64,
}

/// Adds counts by name.
pub(crate) fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, n) in from {
        *into.entry(k.clone()).or_default() += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_is_named_as_its_load_is_tagged() {
        let loads = [
            LoadSummary::ClosedLoop,
            LoadSummary::Mixed,
            LoadSummary::Unknown,
        ];
        for l in loads {
            let json = serde_json::to_value(&l).unwrap();
            assert_eq!(json["model"], l.model().to_string());
        }
        assert_eq!(Model::OpenLoop.to_string(), "open_loop");
    }
}
