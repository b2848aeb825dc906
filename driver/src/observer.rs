//! How a run reaches whoever started it while it goes on. The run library prints nothing: it
//! sends [`Event`]s to one [`Observer`], and the binary decides what a person sees (progress
//! lines on a terminal, nothing with `--quiet`), as `nines node` and the tests decide for
//! themselves.

use crate::engine::intervals::Interval;
use crate::report::resources::{Held, ResourceSummary};

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Opening connections (outside the measurement).
    Connecting,
    /// Load applied, not yet measured.
    WarmingUp,
    /// Load applied and measured.
    Measuring,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Connecting => "connecting",
            Phase::WarmingUp => "warming up",
            Phase::Measuring => "measuring",
        })
    }
}

/// Something that happened in a run.
#[derive(Debug)]
pub enum Event<'a> {
    /// About once a second when no interval was released: the phase, for a heartbeat.
    Phase {
        /// The phase.
        phase: Phase,
        /// Seconds since load started (0 while connecting).
        elapsed_s: f64,
        /// Errors so far.
        errors: u64,
    },
    /// A second of measurement, merged over every driver thread.
    Interval {
        /// The second.
        interval: &'a Interval,
        /// Seconds since load started.
        elapsed_s: f64,
        /// Errors so far.
        errors: u64,
        /// What the target and the driver held at its end (none once the run winds down).
        held: Option<Held>,
    },
    /// Every ten seconds of measurement: what the target and the driver hold now, and their
    /// growth fitted over the measurement so far, so a long run shows a leak as it goes.
    Growth {
        /// Seconds since load started.
        elapsed_s: f64,
        /// What is held now.
        held: Held,
        /// The growth so far.
        growth: &'a ResourceSummary,
    },
}

/// Receives a run's events.
pub trait Observer {
    /// Called on the thread that started the run, in order.
    fn on_event(&mut self, event: &Event<'_>);
}

impl<F: FnMut(&Event<'_>)> Observer for F {
    fn on_event(&mut self, event: &Event<'_>) {
        self(event)
    }
}
