//! A benchmark run's configuration: plain data, built once from the command line (or by
//! `nines node` and tests), validated once before anything starts ([`BenchConfig::validate`]),
//! then read by every driver thread and saved in every report's manifest.

pub mod defaults;
mod requests;
pub mod secs;
mod validate;

pub use validate::{Limits, MAX_RATE_PER_THREAD};

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::schedule::Arrival;
use crate::target::RequestSpec;

/// Open-loop load: requests fall due on a schedule whatever the server does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OpenLoop {
    /// Requests per second, across all threads and connections.
    pub rate_per_s: f64,
    /// Spacing of arrivals.
    pub arrival: Arrival,
    /// Seed of the Poisson schedule (each thread derives its own from it).
    pub seed: u64,
}

/// A connection storm (`nines storm`): connections opened at a steady rate, each sending one
/// timestamped message every `interval` for the rest of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StormPlan {
    /// Connections opened per second, across all threads.
    pub connect_rate: f64,
    /// Time between one connection's messages.
    #[serde(rename = "interval_s", with = "secs")]
    pub interval: Duration,
    /// How long every connection is held once the last has been started.
    #[serde(rename = "hold_s", with = "secs")]
    pub hold: Duration,
}

impl StormPlan {
    /// How long starting every one of `connections` takes at the connect rate.
    /// A rate that is no rate gives no ramp; validation names the rate itself.
    pub fn ramp(&self, connections: usize) -> Duration {
        if !(self.connect_rate.is_finite() && self.connect_rate > 0.0) {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(connections as f64 / self.connect_rate).unwrap_or(Duration::MAX)
    }
}

/// When the measured part of a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopAt {
    /// After this long.
    #[serde(rename = "duration_s", with = "secs")]
    Duration(Duration),
    /// After exactly this many responses (spread over the threads).
    #[serde(rename = "requests")]
    Requests(u64),
}

/// Everything a run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// `host:port` to load; `None` starts the server in-process on 127.0.0.1.
    pub target: Option<String>,
    /// Driver threads, each with its own event loop and histograms.
    pub threads: usize,
    /// Connections, spread over the threads.
    pub connections: usize,
    /// Requests in flight per connection at most (closed loop: always).
    pub pipeline: usize,
    /// Open-loop schedule; `None` is closed loop.
    pub open_loop: Option<OpenLoop>,
    /// Schedule lag p99 above which the report warns that the driver, not the server, limited
    /// the result.
    #[serde(rename = "lag_threshold_s", with = "secs")]
    pub lag_threshold: Duration,
    /// When the measurement ends.
    pub stop: StopAt,
    /// Load applied and measured before the measurement, then reported apart and discarded.
    #[serde(rename = "warmup_s", with = "secs")]
    pub warmup: Duration,
    /// What each request is.
    pub request: RequestSpec,
    /// Errors after which the run is stopped (exit status 1, partial results written).
    pub max_errors: u64,
    /// How long connecting may take.
    #[serde(rename = "connect_timeout_s", with = "secs")]
    pub connect_timeout: Duration,
    /// A request unanswered this long after it was sent (`timeout`), or in open loop still
    /// unsent this long after it was due (`unsent`), is an error and stops occupying the run.
    #[serde(rename = "request_timeout_s", with = "secs")]
    pub request_timeout: Duration,
    /// How long to wait for replies still in flight when the measurement ends.
    #[serde(rename = "drain_timeout_s", with = "secs")]
    pub drain_timeout: Duration,
    /// Worker threads of the embedded server (when there is no target).
    pub server_workers: usize,
    /// Start the load (after connecting) at this wall-clock time, seconds since the Unix epoch,
    /// so drivers on several machines start together.
    pub start_at_unix_s: Option<f64>,
    /// Local addresses connections are made from, in turn (`--source`); empty: the kernel's
    /// choice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_addrs: Vec<std::net::IpAddr>,
    /// A connection storm instead of bench load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storm: Option<StormPlan>,
}

impl Default for BenchConfig {
    /// The command line's defaults ([`defaults`]): embedded server, closed loop.
    fn default() -> Self {
        BenchConfig {
            target: None,
            threads: defaults::threads(true),
            connections: defaults::CONNECTIONS,
            pipeline: defaults::PIPELINE,
            open_loop: None,
            lag_threshold: defaults::LAG_THRESHOLD,
            stop: StopAt::Duration(defaults::DURATION),
            warmup: defaults::WARMUP,
            request: RequestSpec::default(),
            max_errors: defaults::MAX_ERRORS,
            connect_timeout: defaults::CONNECT_TIMEOUT,
            request_timeout: defaults::REQUEST_TIMEOUT,
            drain_timeout: defaults::DRAIN_TIMEOUT,
            server_workers: defaults::server_workers(),
            start_at_unix_s: None,
            source_addrs: Vec::new(),
            storm: None,
        }
    }
}

impl BenchConfig {
    /// Whether the driver starts the server itself.
    pub fn embedded(&self) -> bool {
        self.target.is_none()
    }

    /// Driver threads that will actually run: never more than there are connections.
    pub fn threads_used(&self) -> usize {
        self.threads.min(self.connections).max(1)
    }
}

/// Parses a start time: seconds since the Unix epoch (`1795398113`, as `date +%s` prints), or
/// `+DURATION` from now (`+30s`).
pub fn parse_start_at(s: &str) -> Result<f64, String> {
    let t = s.trim();
    if let Some(rel) = t.strip_prefix('+') {
        return Ok(
            crate::clock::unix_now_s() + nines_common::units::parse_duration(rel)?.as_secs_f64()
        );
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!(
            "`{t}` is not a start time (seconds since the epoch, e.g. $(( $(date +%s) + 30 )), or +30s)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times() {
        assert_eq!(parse_start_at("1795398113"), Ok(1_795_398_113.0));
        let now = crate::clock::unix_now_s();
        let t = parse_start_at("+30s").unwrap();
        assert!((t - now - 30.0).abs() < 1.0);
        assert!(parse_start_at("noon").is_err());
        assert!(parse_start_at("-5").is_err());
    }

    #[test]
    fn config_round_trips_through_json_with_units_in_its_keys() {
        let cfg = BenchConfig {
            open_loop: Some(OpenLoop {
                rate_per_s: 1234.5,
                arrival: Arrival::Poisson,
                seed: 9,
            }),
            stop: StopAt::Requests(77),
            ..BenchConfig::default()
        };
        let v = serde_json::to_value(&cfg).unwrap();
        assert_eq!(v["warmup_s"], 1.0);
        assert_eq!(v["stop"]["requests"], 77);
        assert_eq!(v["open_loop"]["arrival"], "poisson");
        assert_eq!(v["request"]["op"], "echo");
        let back: BenchConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, cfg);
    }
}
