//! nines-common: the settings vocabulary nines-server and the `nines` driver share.
//!
//! The wire format lives in nines-protocol and knows only bytes. What both binaries also need to
//! agree on is smaller but easy to let drift: which protocols exist and what they are called on
//! the command line and in reports ([`Protocol`]), how a user writes a size or a duration
//! ([`units`]), what this host lets a process open ([`sys`]), and what a bad flag looks like
//! when it is refused ([`usage`]). Each is defined here once, so `--help`, the JSON report and
//! the error a user sees always say the same thing.
#![deny(missing_docs, missing_debug_implementations)]

pub mod cpu;
mod protocol;
pub mod sys;
pub mod units;
pub mod usage;

pub use protocol::Protocol;

/// TCP port nines-server listens on, and the driver assumes, when none is given.
pub const DEFAULT_PORT: u16 = 9999;
