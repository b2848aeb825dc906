//! `nines sweep`: where latency breaks as load grows (seed 002's method). One closed-loop step
//! per connection level; then, for rate levels, a short closed-loop run finds the peak and one
//! open-loop step runs at each fraction of it (or at an absolute rate). Every step is a whole
//! [`Report`] from the same run code as `nines bench`; the sweep is one value (its settings,
//! the peak probe, the steps and the knee) saved as JSON and re-rendered by `nines report`.
//!
//! `nines node`'s bench_sweep runs through [`run_sweep`] too.

mod knee;
mod render;

pub use knee::{find_knee, Knee, DEFAULT_KNEE_MULTIPLE};
pub use render::{render, step_line, table_header};

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{secs, BenchConfig, OpenLoop};
use crate::report::Report;
use crate::run::{run, start_embedded, Hooks, RunError};

/// The `format` key of a saved sweep.
pub const FORMAT: &str = "nines-sweep/1";
/// How long the peak probe measures by default.
pub const DEFAULT_PEAK_DURATION: Duration = Duration::from_secs(3);

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
    /// Every step's settings but its load (target, threads, duration, warm-up, request, ...).
    pub base: BenchConfig,
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
    /// Connections the open-loop steps and the peak probe use.
    pub fn open_loop_connections(&self) -> usize {
        self.connections
            .iter()
            .copied()
            .max()
            .unwrap_or(self.base.connections)
    }

    /// How long the sweep takes, warm-ups and the peak probe included (what a progress bar
    /// counts to); `None` when steps stop at a request count.
    pub fn planned(&self) -> Option<Duration> {
        let crate::config::StopAt::Duration(d) = self.base.stop else {
            return None;
        };
        let step = self.base.warmup + d;
        let probes = self.rates.iter().any(|r| matches!(r, RateLevel::OfPeak(_)));
        let probe = if probes {
            self.base.warmup + self.peak_duration
        } else {
            Duration::ZERO
        };
        Some(step * (self.connections.len() + self.rates.len()) as u32 + probe)
    }

    /// Checks every step's settings before any runs: each is validated as `nines bench` would.
    pub fn validate(&self) -> Vec<nines_common::usage::UsageError> {
        let mut e = Vec::new();
        if self.connections.is_empty() && self.rates.is_empty() {
            e.push(nines_common::usage::UsageError::new(
                "--connections",
                "a sweep needs levels: --connections 1,8,64 and/or --rates 50%,90%,20k",
            ));
        }
        for &c in &self.connections {
            let cfg = BenchConfig {
                connections: c,
                ..self.base.clone()
            };
            for u in cfg.validate() {
                if !e.contains(&u) {
                    e.push(u);
                }
            }
        }
        e
    }
}

/// The short closed-loop run that finds the peak the rate levels are shares of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    /// Its throughput.
    pub throughput_rps: f64,
    /// Connections it used.
    pub connections: usize,
}

/// One step of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The load, in words (`64 connections`, `50% of peak = 104,000 req/s`).
    pub label: String,
    /// Connections.
    pub connections: usize,
    /// The open-loop level (none for a closed-loop step).
    pub rate: Option<RateLevel>,
    /// The open-loop rate it ran at (none for a closed-loop step).
    pub rate_per_s: Option<f64>,
    /// Its whole report.
    pub report: Report,
}

impl Step {
    /// The step's offered load for ordering and the knee: its rate, or (closed loop) its
    /// throughput.
    pub fn load_rps(&self) -> f64 {
        self.rate_per_s.unwrap_or(self.report.throughput_rps)
    }
}

/// A whole sweep: one value, saved and re-rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// [`FORMAT`].
    pub format: String,
    /// What was asked.
    pub config: SweepConfig,
    /// The address loaded.
    pub target: String,
    /// The peak probe, when rate levels were given.
    pub peak: Option<Peak>,
    /// The steps, in the order they ran.
    pub steps: Vec<Step>,
    /// Where latency broke, and why that step.
    pub knee: Knee,
    /// The sweep stopped before its last step (Ctrl-C, or a step that could not run).
    pub cut_short: Option<String>,
}

/// Runs every step; `on_step` sees each as it finishes (the live table). The embedded server,
/// when there is no target, is started once for the whole sweep.
pub fn run_sweep(
    cfg: &SweepConfig,
    hooks: &mut Hooks<'_>,
    on_step: &mut dyn FnMut(&Step),
) -> Result<Sweep, RunError> {
    let usage = cfg.validate();
    if !usage.is_empty() {
        return Err(RunError::Usage(usage));
    }
    let embedded = match cfg.base.target {
        None => Some(start_embedded(&cfg.base)?),
        Some(_) => None,
    };
    let mut base = cfg.base.clone();
    if let Some(s) = &embedded {
        base.target = Some(s.local_addr().to_string());
    }
    let mut sweep = Sweep {
        format: FORMAT.to_string(),
        config: cfg.clone(),
        target: base.target.clone().unwrap_or_default(),
        peak: None,
        steps: Vec::new(),
        knee: Knee::default(),
        cut_short: None,
    };
    let stopped = |h: &Hooks<'_>| {
        h.interrupt
            .as_ref()
            .is_some_and(|i| i.load(std::sync::atomic::Ordering::Relaxed))
    };
    for &c in &cfg.connections {
        if stopped(hooks) {
            sweep.cut_short = Some("interrupted".to_string());
            break;
        }
        let step_cfg = BenchConfig {
            connections: c,
            open_loop: None,
            ..base.clone()
        };
        let report = run(&step_cfg, hooks)?;
        sweep.target.clone_from(&report.target);
        let step = Step {
            label: format!("{c} connection{}", if c == 1 { "" } else { "s" }),
            connections: c,
            rate: None,
            rate_per_s: None,
            report,
        };
        on_step(&step);
        sweep.steps.push(step);
    }
    if !cfg.rates.is_empty() && sweep.cut_short.is_none() {
        run_rates(cfg, &base, hooks, on_step, &mut sweep)?;
    }
    sweep.knee = find_knee(&sweep.steps, cfg.slo_p99, cfg.knee_multiple);
    drop(embedded);
    Ok(sweep)
}

/// The peak probe (when a level is a share of it), then one open-loop step per rate level.
fn run_rates(
    cfg: &SweepConfig,
    base: &BenchConfig,
    hooks: &mut Hooks<'_>,
    on_step: &mut dyn FnMut(&Step),
    sweep: &mut Sweep,
) -> Result<(), RunError> {
    let connections = cfg.open_loop_connections();
    if cfg.rates.iter().any(|r| matches!(r, RateLevel::OfPeak(_))) {
        let probe = BenchConfig {
            connections,
            open_loop: None,
            stop: crate::config::StopAt::Duration(cfg.peak_duration),
            ..base.clone()
        };
        let r = run(&probe, hooks)?;
        if r.throughput_rps <= 0.0 {
            sweep.cut_short = Some(format!(
                "the peak probe measured no replies ({}); no rate step can be placed",
                match &r.outcome {
                    crate::report::Outcome::CutShort(why) => why.to_string(),
                    crate::report::Outcome::Completed => "no replies".to_string(),
                }
            ));
            return Ok(());
        }
        sweep.peak = Some(Peak {
            throughput_rps: r.throughput_rps,
            connections,
        });
    }
    let peak = sweep.peak.as_ref().map(|p| p.throughput_rps);
    for &level in &cfg.rates {
        if hooks
            .interrupt
            .as_ref()
            .is_some_and(|i| i.load(std::sync::atomic::Ordering::Relaxed))
        {
            sweep.cut_short = Some("interrupted".to_string());
            break;
        }
        let rate = level.rate(peak).max(1.0);
        let step_cfg = BenchConfig {
            connections,
            open_loop: Some(OpenLoop {
                rate_per_s: rate,
                ..base.open_loop.unwrap_or(OpenLoop {
                    rate_per_s: rate,
                    arrival: crate::schedule::Arrival::default(),
                    seed: crate::config::defaults::SEED,
                })
            }),
            ..base.clone()
        };
        let report = run(&step_cfg, hooks)?;
        let label = match level {
            RateLevel::OfPeak(_) => format!(
                "{level} = {} req/s",
                nines_common::units::thousands(rate.round() as u64)
            ),
            RateLevel::Absolute(_) => level.to_string(),
        };
        let step = Step {
            label,
            connections,
            rate: Some(level),
            rate_per_s: Some(rate),
            report,
        };
        on_step(&step);
        sweep.steps.push(step);
    }
    Ok(())
}

/// The address a sweep's steps load, for messages.
pub fn target_addr(sweep: &Sweep) -> Option<SocketAddr> {
    sweep.target.parse().ok()
}

/// Reads a saved sweep; `None` when the JSON is not a sweep (so it is tried as a report).
pub fn parse(bytes: &[u8]) -> Option<Result<Sweep, String>> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return None;
    }
    Some(serde_json::from_value(v).map_err(|e| format!("damaged sweep ({e})")))
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
        let base = BenchConfig {
            warmup: Duration::from_secs(1),
            stop: crate::config::StopAt::Duration(Duration::from_secs(2)),
            ..BenchConfig::default()
        };
        let mut cfg = SweepConfig {
            base,
            connections: vec![1, 8],
            rates: vec![RateLevel::OfPeak(0.5), RateLevel::Absolute(1000.0)],
            peak_duration: Duration::from_secs(3),
            slo_p99: None,
            knee_multiple: 3.0,
        };
        // Four steps of 1 s + 2 s, and a probe of 1 s + 3 s.
        assert_eq!(cfg.planned(), Some(Duration::from_secs(16)));
        cfg.rates.remove(0);
        assert_eq!(cfg.planned(), Some(Duration::from_secs(9)), "no probe");
        cfg.base.stop = crate::config::StopAt::Requests(10);
        assert_eq!(cfg.planned(), None);
    }
}
