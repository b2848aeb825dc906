//! A sweep as a result (`nines sweep`): one value holding what was asked, the peak probe, every
//! step's whole [`Report`] and the knee, saved as JSON and read back by `nines report`, `compare`
//! and the report directory. Running one is the `sweep` command's business.

mod knee;

pub(crate) use knee::fmt_us;
pub use knee::{find_knee, Knee};

use serde::{Deserialize, Serialize};

use crate::config::{RateLevel, SweepConfig};
use crate::report::{LoadSummary, Report};

/// The `format` key of a saved sweep (`nines-sweep/1` is converted as it is read).
pub const FORMAT: &str = "nines-sweep/2";

/// The short closed-loop run that finds the peak the rate levels are shares of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    /// Its throughput.
    pub throughput_rps: f64,
    /// Connections it used.
    pub connections: usize,
}

/// Which of the sweep's levels a step is. Its connections, rate and figures are its report's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum StepLoad {
    /// A `--connections` level, closed loop.
    ClosedLoop,
    /// A `--rates` level, open loop.
    OpenLoop {
        /// The level asked for (a share of the peak, or a rate).
        level: RateLevel,
    },
}

/// One step of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The load, in words (`64 connections`, `50% of peak = 104,000 req/s`).
    pub label: String,
    /// Its level.
    pub load: StepLoad,
    /// Its whole report.
    pub report: Report,
}

impl Step {
    /// Connections it ran on.
    pub fn connections(&self) -> u64 {
        self.report.driver.connections
    }

    /// The open-loop rate it ran at (none for a closed-loop step).
    pub fn rate_per_s(&self) -> Option<f64> {
        match &self.report.load {
            LoadSummary::OpenLoop(o) => Some(o.requested_rps),
            _ => None,
        }
    }

    /// Where the step stands among the sweep's levels, lowest load first: its rate (open loop)
    /// or its connections (closed loop) — what was asked, not what a struggling server
    /// managed, so a collapse at high connection counts cannot reorder the steps.
    pub fn level_order(&self) -> f64 {
        self.rate_per_s().unwrap_or(self.connections() as f64)
    }

    /// The level, as steps of different sweeps are matched (`8 connection(s), closed loop`,
    /// `50% of peak, open loop`): not the label, whose absolute rate differs with each peak.
    pub fn level(&self) -> String {
        match self.load {
            StepLoad::ClosedLoop => format!("{} connection(s), closed loop", self.connections()),
            StepLoad::OpenLoop { level } => format!("{level}, open loop"),
        }
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
