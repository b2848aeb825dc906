//! nines-driver: the load generator behind `nines`.
//!
//! A run is threads × connections × pipeline depth. Each driver thread owns its connections and
//! its own histograms and runs one mio event loop (`engine`); the only cross-thread traffic while
//! load runs is a stop flag and a progress counter per thread. When the threads finish, their
//! histograms are merged (true percentiles, never averages of percentiles) into one [`Report`]
//! that every output renders.
//!
//! The parts are kept apart so the next load models and protocols slot in: [`target`] holds the
//! wire codecs behind one small trait, [`clock`] and [`recorder`] do timing and recording without
//! touching sockets, `engine` moves bytes, [`report`] renders.
#![deny(missing_docs, missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod clock;
pub mod config;
pub mod engine;
pub mod errors;
pub mod host;
pub mod kernel;
pub mod node;
pub mod profile;
pub mod recorder;
pub mod report;
pub mod run;
pub mod schedule;
pub mod target;

pub use config::{parse_duration, BenchConfig, StopAt};
pub use report::Report;
pub use run::{run, RunError, RunHooks};
