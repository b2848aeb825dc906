//! nines-common: the settings vocabulary nines-server and the `nines` driver share.
//!
//! The wire format lives in nines-protocol and knows only bytes. What both binaries also need to
//! agree on is smaller but easy to let drift: how a user writes a size or a duration
//! ([`units`]), what this host lets a process open ([`sys`]) and how its threads' CPU is read
//! ([`cpu`]), what a bad flag looks like when it is refused ([`usage`]), and the default port.
//! Each is defined here once, so `--help`, the JSON report and the error a user sees always say
//! the same thing. (Which protocols exist is each side's own: the driver speaks Redis, the
//! server does not.)
#![deny(missing_docs, missing_debug_implementations)]

pub mod cpu;
pub mod sys;
pub mod units;
pub mod usage;

/// TCP port nines-server listens on, and the driver assumes, when none is given.
pub const DEFAULT_PORT: u16 = 9999;
