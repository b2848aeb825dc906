//! What the driver threads share with each other and with the thread watching them: the stop
//! flag and its reason, the running error count that `--max-errors` and progress read, the gate
//! every thread passes once connected, and the run's timeline.
//!
//! Nothing here is touched per request except the error count, and that only per error.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

/// Why a run ended before its planned end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StopReason {
    /// Still running, or ended as planned.
    None = 0,
    /// The user interrupted it (Ctrl-C / SIGTERM).
    Interrupted = 1,
    /// Errors reached `--max-errors`.
    ErrorLimit = 2,
    /// A clause of `--slo` on the target's growth was passed for certain.
    GrowthSlo = 3,
}

impl StopReason {
    fn from_u8(v: u8) -> StopReason {
        match v {
            1 => StopReason::Interrupted,
            2 => StopReason::ErrorLimit,
            3 => StopReason::GrowthSlo,
            _ => StopReason::None,
        }
    }
}

/// The phases of a run on the run clock, fixed once every thread is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    /// Load starts (warm-up begins).
    pub start_ns: u64,
    /// Warm-up ends and measurement begins.
    pub measure_start_ns: u64,
    /// Measurement ends (duration mode); `None` when stopping after a request count.
    pub end_ns: Option<u64>,
}

/// State shared by the driver threads and the thread that started them.
#[derive(Debug)]
pub struct Control {
    stop: AtomicBool,
    stop_reason: AtomicU8,
    errors: AtomicU64,
    max_errors: u64,
    /// Threads still connecting; load starts when it reaches zero.
    connecting: Mutex<usize>,
    connected: Condvar,
    timeline: OnceLock<Timeline>,
    threads: usize,
}

impl Control {
    /// Shared state for `threads` driver threads that stop at `max_errors` errors.
    pub fn new(threads: usize, max_errors: u64) -> Control {
        Control {
            stop: AtomicBool::new(false),
            stop_reason: AtomicU8::new(0),
            errors: AtomicU64::new(0),
            max_errors: max_errors.max(1),
            connecting: Mutex::new(threads),
            connected: Condvar::new(),
            timeline: OnceLock::new(),
            threads,
        }
    }

    /// Asks every thread to stop now, keeping the first reason given.
    pub fn request_stop(&self, reason: StopReason) {
        let _ =
            self.stop_reason
                .compare_exchange(0, reason as u8, Ordering::AcqRel, Ordering::Acquire);
        self.stop.store(true, Ordering::Release);
    }

    /// Whether the run has been asked to stop.
    #[inline]
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Counts `n` errors; reaching `--max-errors` stops the run. Every error of every kind comes
    /// through here, so the limit and the progress line see the same number.
    pub fn count_errors(&self, n: u64) {
        if n == 0 {
            return;
        }
        let total = self.errors.fetch_add(n, Ordering::Relaxed) + n;
        if total >= self.max_errors {
            self.request_stop(StopReason::ErrorLimit);
        }
    }

    /// Errors counted so far by all threads.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Why the run was stopped early, if it was.
    pub fn stop_reason(&self) -> StopReason {
        StopReason::from_u8(self.stop_reason.load(Ordering::Acquire))
    }

    /// The timeline, once the threads have fixed it.
    pub fn timeline(&self) -> Option<Timeline> {
        self.timeline.get().copied()
    }

    /// Fixes the timeline (the first caller wins) and returns it.
    pub fn fix_timeline(&self, make: impl FnOnce() -> Timeline) -> Timeline {
        *self.timeline.get_or_init(make)
    }

    /// Driver threads in the run.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Waits until every thread has connected, or the run is stopped (a thread that could not
    /// be started must not leave the others waiting forever). Returns false if stopped.
    pub fn all_connected(&self) -> bool {
        let mut left = self.connecting.lock().unwrap_or_else(|e| e.into_inner());
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.connected.notify_all();
        }
        while *left > 0 && !self.stopped() {
            left = self
                .connected
                .wait_timeout(left, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *left == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_limit_stops_the_run_with_its_reason() {
        let c = Control::new(1, 5);
        c.count_errors(4);
        assert!(!c.stopped());
        c.count_errors(1);
        assert!(c.stopped());
        assert_eq!(c.stop_reason(), StopReason::ErrorLimit);
        // The first reason is kept.
        c.request_stop(StopReason::Interrupted);
        assert_eq!(c.stop_reason(), StopReason::ErrorLimit);
        assert_eq!(c.errors(), 5);
    }
}
