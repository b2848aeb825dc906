//! What a sweep runs (`nines sweep`): the steps' shared settings and their levels: one
//! closed-loop step per connection level, then one open-loop step per rate level, each a share
//! of a measured peak or an absolute rate.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{secs, Arrivals, Bench, BenchConfig, Load, Rate, StopAt};

/// An open-loop level: a share of the measured peak, or a rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLevel {
    /// This fraction of the peak closed-loop throughput (`50%` is 0.5).
    OfPeak(f64),
    /// Requests per second.
    Absolute(f64),
}

impl RateLevel {
    /// Parses `50%`, `110%`, `20k`, `1500`.
    pub fn parse(s: &str) -> Result<RateLevel, String> {
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            return match p.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 && v <= 1000.0 => {
                    Ok(RateLevel::OfPeak(v / 100.0))
                }
                _ => Err(format!("`{t}` is not a share of the peak (1% .. 1000%)")),
            };
        }
        nines_common::units::parse_rate(t).map(RateLevel::Absolute)
    }

    /// The rate this level asks for, given the peak.
    pub fn rate(self, peak_rps: Option<f64>) -> f64 {
        match self {
            RateLevel::OfPeak(f) => f * peak_rps.unwrap_or(0.0),
            RateLevel::Absolute(r) => r,
        }
    }
}

impl std::fmt::Display for RateLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RateLevel::OfPeak(v) => write!(f, "{}% of peak", (v * 100.0 * 100.0).round() / 100.0),
            RateLevel::Absolute(r) => {
                write!(f, "{} req/s", nines_common::units::thousands(*r as u64))
            }
        }
    }
}

/// What a sweep runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepConfig {
    /// Every step's settings (target, threads, request, timeouts, ...). Its load is the
    /// closed loop every step shares (pipeline, warm-up, duration, error limit: the open-loop
    /// steps run at their rates with the same), and its connections are the steps' when no
    /// `--connections` levels are given.
    pub base: BenchConfig,
    /// How the open-loop steps' requests are spaced.
    pub arrivals: Arrivals,
    /// Connections of each closed-loop step, in order.
    pub connections: Vec<usize>,
    /// Open-loop levels, in order; they run on the last (largest) connection level.
    pub rates: Vec<RateLevel>,
    /// How long the peak probe measures.
    #[serde(rename = "peak_duration_s", with = "secs")]
    pub peak_duration: Duration,
    /// The p99 a step must stay under to be below the knee; without it, a multiple of the
    /// lowest step's p99.
    #[serde(rename = "slo_p99_s", with = "secs::option", default)]
    pub slo_p99: Option<Duration>,
    /// That multiple.
    pub knee_multiple: f64,
}

impl SweepConfig {
    /// A sweep of `base` (its target, request and closed-loop shape) over these connection
    /// levels, with the defaults for the rest.
    pub fn new(base: BenchConfig, connections: Vec<usize>) -> SweepConfig {
        SweepConfig {
            base,
            arrivals: Arrivals::default(),
            connections,
            rates: Vec::new(),
            peak_duration: super::defaults::PEAK_DURATION,
            slo_p99: None,
            knee_multiple: super::defaults::KNEE_MULTIPLE,
        }
    }

    /// What every step's load shares (the base's closed loop; validation refuses another).
    pub fn bench(&self) -> Bench {
        self.base.load.bench().copied().unwrap_or_default()
    }

    /// Connections the open-loop steps and the peak probe use.
    pub fn open_loop_connections(&self) -> usize {
        self.connections
            .iter()
            .copied()
            .max()
            .unwrap_or(self.base.connections)
    }

    /// A closed-loop step on `connections`.
    pub fn closed_step(&self, connections: usize) -> BenchConfig {
        BenchConfig {
            connections,
            load: Load::ClosedLoop(self.bench()),
            ..self.base.clone()
        }
    }

    /// The peak probe: closed loop on the open-loop connections for `peak_duration`.
    pub fn peak_probe(&self) -> BenchConfig {
        BenchConfig {
            connections: self.open_loop_connections(),
            load: Load::ClosedLoop(Bench {
                stop: StopAt::Duration(self.peak_duration),
                ..self.bench()
            }),
            ..self.base.clone()
        }
    }

    /// An open-loop step at `rate_per_s`.
    pub fn open_step(&self, rate_per_s: f64) -> BenchConfig {
        BenchConfig {
            connections: self.open_loop_connections(),
            load: Load::OpenLoop {
                bench: self.bench(),
                rate: Rate::Steady { rate_per_s },
                arrivals: self.arrivals,
            },
            ..self.base.clone()
        }
    }

    /// How long the sweep takes, warm-ups and the peak probe included (what a progress bar
    /// counts to); `None` when steps stop at a request count.
    pub fn planned(&self) -> Option<Duration> {
        let bench = self.bench();
        let StopAt::Duration(d) = bench.stop else {
            return None;
        };
        let step = bench.warmup + d;
        let probes = self.rates.iter().any(|r| matches!(r, RateLevel::OfPeak(_)));
        let probe = if probes {
            bench.warmup + self.peak_duration
        } else {
            Duration::ZERO
        };
        Some(step * (self.connections.len() + self.rates.len()) as u32 + probe)
    }

    /// Checks every step's settings against `limits` before any runs: each is validated as
    /// `nines bench` would.
    pub fn validate_with(&self, limits: &super::Limits) -> Vec<nines_common::usage::UsageError> {
        let mut e = Vec::new();
        if !matches!(self.base.load, Load::ClosedLoop(_)) {
            e.push(nines_common::usage::UsageError::new(
                "--rate",
                "a sweep's steps share a closed-loop load: the open-loop steps come from --rates",
            ));
        }
        if self.connections.is_empty() && self.rates.is_empty() {
            e.push(nines_common::usage::UsageError::new(
                "--connections",
                "a sweep needs levels: --connections 1,8,64 and/or --rates 50%,90%,20k",
            ));
        }
        let mut steps: Vec<BenchConfig> = self
            .connections
            .iter()
            .map(|&c| self.closed_step(c))
            .collect();
        for level in &self.rates {
            // Shares of the peak are checked at a rate any peak gives; absolute ones as given.
            steps.push(self.open_step(level.rate(Some(1.0)).max(1.0)));
        }
        if steps.is_empty() {
            steps.push(self.closed_step(self.base.connections));
        }
        for cfg in steps {
            for u in cfg.validate_with(limits) {
                if !e.contains(&u) {
                    e.push(u);
                }
            }
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_levels_parse() {
        assert_eq!(RateLevel::parse("50%"), Ok(RateLevel::OfPeak(0.5)));
        assert_eq!(RateLevel::parse("20k"), Ok(RateLevel::Absolute(20_000.0)));
        assert!(RateLevel::parse("0%").is_err());
        assert!(RateLevel::parse("x%").is_err());
        assert_eq!(RateLevel::OfPeak(0.5).rate(Some(1000.0)), 500.0);
        assert_eq!(RateLevel::OfPeak(1.1).to_string(), "110% of peak");
    }

    #[test]
    fn a_sweep_plans_its_steps_warm_ups_and_peak_probe() {
        let bench = Bench {
            warmup: Duration::from_secs(1),
            stop: StopAt::Duration(Duration::from_secs(2)),
            ..Bench::default()
        };
        let base = BenchConfig {
            load: Load::ClosedLoop(bench),
            ..BenchConfig::default()
        };
        let mut cfg = SweepConfig {
            rates: vec![RateLevel::OfPeak(0.5), RateLevel::Absolute(1000.0)],
            ..SweepConfig::new(base, vec![1, 8])
        };
        // Four steps of 1 s + 2 s, and a probe of 1 s + 3 s.
        assert_eq!(cfg.planned(), Some(Duration::from_secs(16)));
        assert_eq!(cfg.open_step(500.0).connections, 8);
        assert!(matches!(cfg.open_step(500.0).load, Load::OpenLoop { .. }));
        cfg.rates.remove(0);
        assert_eq!(cfg.planned(), Some(Duration::from_secs(9)), "no probe");
        if let Some(b) = cfg.base.load.bench_mut() {
            b.stop = StopAt::Requests(10);
        }
        assert_eq!(cfg.planned(), None);
    }
}
