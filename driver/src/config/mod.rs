//! A run's configuration: plain data, built once from the command line (or by `nines node` and
//! tests), validated once before anything starts ([`BenchConfig::validate_with`]), then read by every
//! driver thread and saved in every report's manifest.
//!
//! The two decisions everything else follows are values here, made once: the load model
//! ([`Load`]: closed loop, open loop or storm) and what each request is ([`RequestSpec`], one
//! arm per protocol).

pub mod defaults;
mod flame;
mod http;
mod limits;
mod line;
mod load;
mod mix;
mod payload;
mod picker;
mod protocol;
mod request;
pub mod secs;
mod session;
mod stages;
mod sweep;
mod tls;
mod validate;

pub use flame::{FlameSpec, Unwind};
pub use http::{
    method_sends_body, parse_accept, parse_header, parse_method, status_accepted, Body,
    HttpRequest, Resource,
};
pub use limits::Limits;
pub use line::{parse_line, read_body};
pub use load::{Arrivals, Bench, Load, StopAt, Storm};
pub use mix::{
    example as mix_example, parse_request_file, parse_weighted, Line, Requests, MAX_LINES,
};
pub use payload::{Payload, MAX_EMPIRICAL_SIZES};
pub use picker::{Pick, Picker};
pub use protocol::Protocol;
pub use request::{split_command, NinesOp, RedisRequest, RequestSpec, WsMessage, WsRequest};
pub use session::Session;
pub use stages::{Rate, Span, Stage, Stages};
pub use sweep::{RateLevel, SweepConfig};
pub use tls::{ClientCert, TlsOptions, TlsVersion, Verify};
pub use validate::{MAX_BODY_BYTES, MAX_RATE_PER_THREAD};

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a run loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// nines-server started in this process on 127.0.0.1 (a free port).
    Embedded {
        /// Its worker threads.
        server_workers: usize,
    },
    /// A server elsewhere: `host:port`, or a URL (`http://host:port/path`, `ws://...`,
    /// `redis://...`).
    Address(String),
}

impl Default for Target {
    /// An embedded server with half the CPUs.
    fn default() -> Self {
        Target::Embedded {
            server_workers: defaults::server_workers(),
        }
    }
}

/// Everything a run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// What is loaded.
    pub target: Target,
    /// Driver threads, each with its own event loop and histograms.
    pub threads: usize,
    /// Connections, spread over the threads.
    pub connections: usize,
    /// How load is applied.
    pub load: Load,
    /// What each request is: one request, or a weighted mix.
    pub request: Requests,
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
    /// Start the load (after connecting) at this wall-clock time, seconds since the Unix epoch,
    /// so drivers on several machines start together.
    pub start_at_unix_s: Option<f64>,
    /// Local addresses connections are made from, in turn (`--source`); empty: the kernel's
    /// choice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_addrs: Vec<std::net::IpAddr>,
    /// TLS settings, for a TLS target (`https://`, `wss://`, `rediss://`, `--tls`); a TLS URL
    /// given without them uses the defaults (verified, resumed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsOptions>,
    /// Sample the target's stacks with perf over the measured window (`--flame`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flame: Option<FlameSpec>,
}

impl Default for BenchConfig {
    /// The command line's defaults ([`defaults`]): embedded server, closed loop.
    fn default() -> Self {
        BenchConfig {
            target: Target::default(),
            threads: defaults::threads(true),
            connections: defaults::CONNECTIONS,
            load: Load::default(),
            request: Requests::default(),
            connect_timeout: defaults::CONNECT_TIMEOUT,
            request_timeout: defaults::REQUEST_TIMEOUT,
            drain_timeout: defaults::DRAIN_TIMEOUT,
            start_at_unix_s: None,
            source_addrs: Vec::new(),
            tls: None,
            flame: None,
        }
    }
}

impl BenchConfig {
    /// Whether the driver starts the server itself.
    pub fn embedded(&self) -> bool {
        matches!(self.target, Target::Embedded { .. })
    }

    /// Driver threads that will actually run: never more than there are connections.
    pub fn threads_used(&self) -> usize {
        self.threads.min(self.connections).max(1)
    }

    /// When the measurement ends.
    pub fn stop(&self) -> StopAt {
        self.load.stop(self.connections)
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
    use crate::schedule::Arrival;

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
            target: Target::Address("10.0.0.2:9999".into()),
            load: Load::OpenLoop {
                bench: Bench {
                    stop: StopAt::Requests(77),
                    ..Bench::default()
                },
                rate: Rate::Steady { rate_per_s: 1234.5 },
                arrivals: Arrivals {
                    arrival: Arrival::Poisson,
                    seed: 9,
                    ..Arrivals::default()
                },
            },
            ..BenchConfig::default()
        };
        let v = serde_json::to_value(&cfg).unwrap();
        assert_eq!(v["load"]["warmup_s"], 1.0);
        assert_eq!(v["load"]["stop"]["requests"], 77);
        assert_eq!(v["load"]["arrival"], "poisson");
        assert_eq!(v["request"]["op"], "echo");
        assert_eq!(v["target"]["address"], "10.0.0.2:9999");
        let back: BenchConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, cfg);
    }
}
