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
//! The parts are kept apart so the next load models and protocols slot in: [`target`] holds the
//! wire codecs behind one small trait (the only code that sees a protocol's bytes), [`clock`],
//! [`schedule`] and [`recorder`] do timing and recording without touching sockets, [`engine`]
//! moves bytes, [`config`] defines and bounds every setting once, and the library prints
//! nothing: progress reaches the binary through one [`observer::Observer`].
#![deny(missing_docs, missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(clippy::too_many_lines)]

pub mod clock;
pub mod compare;
pub mod config;
pub mod engine;
pub mod errors;
#[doc(hidden)]
pub mod fuzzing;
pub mod hostile;
pub mod kernel;
pub mod manifest;
pub mod node;
pub mod observer;
pub mod profile;
pub mod recorder;
pub mod report;
pub mod run;
pub mod schedule;
pub mod servercpu;
pub mod slo;
pub mod storm;
pub mod sweep;
pub mod target;

pub use config::{BenchConfig, StopAt};
pub use report::Report;
pub use run::{run, Hooks, RunError};
