//! The load model, decided once: closed loop, open loop or a connection storm, each holding only
//! what it has. Everything that differs between them (how a thread paces its requests, how long
//! the run lasts, what the report says about it) matches on this one value; nothing asks "is
//! there a rate?" of an `Option`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::secs;
use super::session::Session;
use super::stages::Rate;
use crate::schedule::Arrival;

/// How load is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Load {
    /// Each connection keeps up to `pipeline` requests in flight, sending the next as soon as a
    /// reply frees a slot.
    ClosedLoop(Bench),
    /// Requests fall due on a schedule whatever the server does; latency is measured from when
    /// each was due.
    OpenLoop {
        /// In flight per connection, warm-up, when the measurement stops.
        #[serde(flatten)]
        bench: Bench,
        /// Requests per second, across all threads and connections: steady, or in stages.
        #[serde(flatten)]
        rate: Rate,
        /// How they are spaced, and how late the driver may send them.
        #[serde(flatten)]
        arrivals: Arrivals,
    },
    /// Connections opened at a steady rate and held, each sending a timestamped message every
    /// interval (`nines storm`): connecting is part of what is measured.
    Storm(Storm),
}

/// What closed- and open-loop load share: connections opened first (outside the measurement),
/// then requests with at most `pipeline` in flight on each, a warm-up, and a measurement that
/// stops after a time or a count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bench {
    /// Requests in flight per connection at most (closed loop: always).
    pub pipeline: usize,
    /// Load applied and measured before the measurement, then reported apart and discarded.
    #[serde(rename = "warmup_s", with = "secs")]
    pub warmup: Duration,
    /// When the measurement ends.
    pub stop: StopAt,
    /// Errors after which the run is stopped (exit status 1, partial results written).
    pub max_errors: u64,
}

/// An open loop's schedule, but for its rate: the spacing of arrivals and how late the driver
/// may send them (a sweep runs one open-loop step per rate with the same arrivals).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Arrivals {
    /// Spacing of arrivals.
    pub arrival: Arrival,
    /// Seed of the Poisson schedule (each thread derives its own from it).
    pub seed: u64,
    /// Schedule lag p99 above which the report warns that the driver, not the server, limited
    /// the result.
    #[serde(rename = "lag_threshold_s", with = "secs")]
    pub lag_threshold: Duration,
}

/// A connection storm (seed 003's C10K test).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Storm {
    /// Connections opened per second, across all threads.
    pub connect_rate: f64,
    /// Time between one connection's messages.
    #[serde(rename = "interval_s", with = "secs")]
    pub interval: Duration,
    /// How long every connection is held once the last has been started.
    #[serde(rename = "hold_s", with = "secs")]
    pub hold: Duration,
    /// Send lag p99 above which the report warns that messages left late (their echo latency,
    /// timed from when they were due, then carries the driver's lateness).
    #[serde(rename = "lag_threshold_s", with = "secs")]
    pub lag_threshold: Duration,
    /// When a client closes and a new one takes its place; none: every connection is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
    /// How a client spaces its messages: every `interval`, or exponential gaps with that mean.
    #[serde(default)]
    pub think: Arrival,
    /// Seed of the Poisson gaps (each connection derives its own from it).
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_seed() -> u64 {
    super::defaults::SEED
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

impl Storm {
    /// How long starting every one of `connections` takes at the connect rate.
    /// A rate that is no rate gives no ramp; validation names the rate itself.
    pub fn ramp(&self, connections: usize) -> Duration {
        if !(self.connect_rate.is_finite() && self.connect_rate > 0.0) {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(connections as f64 / self.connect_rate).unwrap_or(Duration::MAX)
    }
}

impl Load {
    /// Load before measurement (a storm has none: its connecting is measured).
    pub fn warmup(&self) -> Duration {
        match self {
            Load::ClosedLoop(b) | Load::OpenLoop { bench: b, .. } => b.warmup,
            Load::Storm(_) => Duration::ZERO,
        }
    }

    /// When the measurement ends; a storm's after its ramp over `connections` and its hold.
    pub fn stop(&self, connections: usize) -> StopAt {
        match self {
            Load::ClosedLoop(b) | Load::OpenLoop { bench: b, .. } => b.stop,
            Load::Storm(s) => StopAt::Duration(s.ramp(connections).saturating_add(s.hold)),
        }
    }

    /// Errors that stop the run; a storm never stops for errors (they are what it reports).
    pub fn max_errors(&self) -> u64 {
        match self {
            Load::ClosedLoop(b) | Load::OpenLoop { bench: b, .. } => b.max_errors,
            Load::Storm(_) => u64::MAX,
        }
    }

    /// The lateness against due times above which the driver says it shaped the figures
    /// (closed loop has no due times).
    pub fn lag_threshold(&self) -> Option<Duration> {
        match self {
            Load::ClosedLoop(_) => None,
            Load::OpenLoop { arrivals, .. } => Some(arrivals.lag_threshold),
            Load::Storm(s) => Some(s.lag_threshold),
        }
    }

    /// The bench part (pipeline, warm-up, stop), when the load has one.
    pub fn bench(&self) -> Option<&Bench> {
        match self {
            Load::ClosedLoop(b) | Load::OpenLoop { bench: b, .. } => Some(b),
            Load::Storm(_) => None,
        }
    }

    /// The bench part, to change, when the load has one.
    pub fn bench_mut(&mut self) -> Option<&mut Bench> {
        match self {
            Load::ClosedLoop(b) | Load::OpenLoop { bench: b, .. } => Some(b),
            Load::Storm(_) => None,
        }
    }
}

impl Default for Bench {
    /// `nines bench`'s defaults.
    fn default() -> Self {
        Bench {
            pipeline: super::defaults::PIPELINE,
            warmup: super::defaults::WARMUP,
            stop: StopAt::Duration(super::defaults::DURATION),
            max_errors: super::defaults::MAX_ERRORS,
        }
    }
}

impl Default for Arrivals {
    /// Evenly spaced, the default seed and lag threshold.
    fn default() -> Self {
        Arrivals {
            arrival: Arrival::default(),
            seed: super::defaults::SEED,
            lag_threshold: super::defaults::LAG_THRESHOLD,
        }
    }
}

impl Default for Storm {
    /// `nines storm`'s defaults (seed 003's test: one connection per millisecond).
    fn default() -> Self {
        Storm {
            connect_rate: super::defaults::STORM_CONNECT_RATE,
            interval: super::defaults::STORM_INTERVAL,
            hold: super::defaults::DURATION,
            lag_threshold: super::defaults::LAG_THRESHOLD,
            session: None,
            think: Arrival::default(),
            seed: super::defaults::SEED,
        }
    }
}

impl Default for Load {
    /// Closed loop with `nines bench`'s defaults.
    fn default() -> Self {
        Load::ClosedLoop(Bench::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_model_saves_only_what_it_has() {
        let open = Load::OpenLoop {
            bench: Bench::default(),
            rate: Rate::Steady { rate_per_s: 1234.5 },
            arrivals: Arrivals {
                arrival: Arrival::Poisson,
                ..Arrivals::default()
            },
        };
        let v = serde_json::to_value(&open).unwrap();
        assert_eq!(v["model"], "open_loop");
        assert_eq!(
            (v["rate_per_s"].as_f64(), v["warmup_s"].as_f64()),
            (Some(1234.5), Some(1.0))
        );
        assert_eq!(serde_json::from_value::<Load>(v).unwrap(), open);
        let storm = Load::Storm(Storm::default());
        let v = serde_json::to_value(&storm).unwrap();
        assert_eq!(v["model"], "storm");
        assert!(v.get("pipeline").is_none() && v.get("warmup_s").is_none());
        assert_eq!(serde_json::from_value::<Load>(v).unwrap(), storm);
        // A storm lasts its ramp and its hold, and never stops for errors.
        let s = Storm {
            connect_rate: 100.0,
            hold: Duration::from_secs(2),
            ..Storm::default()
        };
        assert_eq!(
            Load::Storm(s).stop(300),
            StopAt::Duration(Duration::from_secs(5))
        );
        assert_eq!(Load::Storm(s).max_errors(), u64::MAX);
        assert_eq!(Load::default().lag_threshold(), None);
    }
}
