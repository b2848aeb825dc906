//! Where a result came from: one run (with its manifest), results merged (with their parts),
//! or an HdrHistogram interval log read as a result.

use serde::{Deserialize, Serialize};

use super::manifest::Manifest;

/// Where a result came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "origin", rename_all = "snake_case")]
pub enum Origin {
    /// A run of `nines bench`, `profile`, `storm` or a sweep's step.
    Run {
        /// Build, configuration and host.
        manifest: Box<Manifest>,
    },
    /// Results added together by `nines merge` (or a storm's driver processes).
    Merged {
        /// What was added.
        parts: Vec<Part>,
    },
    /// An HdrHistogram interval log, read as a result.
    IntervalLog {
        /// The log.
        file: String,
    },
}

/// One result merged into another.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Part {
    /// The file it was read from.
    pub file: String,
    /// The address it loaded.
    pub target: String,
    /// Its measured replies.
    pub requests: u64,
    /// Its errors.
    pub errors: u64,
    /// Its throughput.
    pub throughput_rps: f64,
    /// Its measured seconds.
    pub duration_s: f64,
    /// When its measurement started, seconds since the Unix epoch.
    pub measure_start_unix_s: f64,
    /// Whether it completed.
    pub completed: bool,
    /// Its manifest, when it was a run.
    pub manifest: Option<Manifest>,
}
