//! The run clock: monotonic nanoseconds since the run's epoch, shared by all driver threads.
//!
//! Intended send times, receive times and phase boundaries are all points on this one clock, so
//! a latency is a subtraction of two u64s and threads agree on when warm-up ends.

use std::time::{Duration, Instant};

/// A monotonic clock with a fixed epoch.
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    epoch: Instant,
}

impl RunClock {
    /// A clock whose zero is now.
    pub fn start() -> RunClock {
        RunClock {
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds since the epoch (CLOCK_MONOTONIC through the vDSO: tens of ns, no syscall).
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// The instant `ns` after the epoch.
    pub fn instant_at(&self, ns: u64) -> Instant {
        self.epoch + Duration::from_nanos(ns)
    }
}

/// Seconds since the Unix epoch now (wall clock: for reports and `--start-at`, never for
/// measuring latency).
pub fn unix_now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
