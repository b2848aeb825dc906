//! nines-driver: the load generator behind `nines`.
//!
//! A run is threads × connections × pipeline depth. Each driver thread owns its connections and
//! its own histograms and runs one mio event loop ([`engine`]); the only cross-thread traffic
//! while load runs is a stop flag, the error count, and one histogram per thread per second.
//! When the threads finish, their histograms are added (true percentiles, never averages of
//! percentiles) into one [`Report`].
//!
//! That report is the one value every command produces or consumes: `bench` and `profile` make
//! one, `merge` adds several, `report` re-renders a saved one, `node` answers from one, and every
//! output format ([`report::render`]) renders it.
//!
//! The modules form layers, leaves first, and none imports a layer above it (docs/architecture.md;
//! `scripts/layers.py` checks it in CI): [`clock`], [`errors`], [`recorder`], [`schedule`] and
//! [`host`] (every /proc and sysctl read) <- [`config`] (one [`config::Load`], one
//! [`config::RequestSpec`] per protocol) <- [`target`] (the wire codecs, the only code that sees
//! a protocol's bytes) and [`transport`] (plain TCP or TLS under a connection; no codec knows
//! which) <- [`engine`] (moves bytes) <- [`report`] (the one result value) <-
//! [`run`] <- the commands ([`profile`], [`storm`], [`sweep`], [`node`], [`compare`],
//! [`hostile`]). The library prints nothing: progress reaches the binary through one
//! [`observer::Observer`].
#![deny(missing_docs, missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(clippy::too_many_lines)]

// Leaves: timing, errors, recording, schedules, the host's /proc and sysctls.
pub mod clock;
pub mod errors;
pub mod host;
pub mod recorder;
pub mod schedule;
// What a run is (one load value, one request value per protocol), then its wire codecs.
pub mod config;
pub mod target;
pub mod transport;
// Moving bytes: driver threads, connections, pacing.
pub mod engine;
pub mod observer;
// Results: one Report value (and a sweep of them), renderers, plots, merge, SLO.
pub mod report;
// Running: validate, resolve or embed the target, start and watch the threads, build the Report.
pub mod run;
// Commands built on runs.
pub mod compare;
#[doc(hidden)]
pub mod fuzzing;
pub mod hostile;
pub mod node;
pub mod profile;
pub mod storm;
pub mod sweep;

pub use config::{BenchConfig, StopAt};
pub use report::Report;
pub use run::{run, Hooks, RunError};
