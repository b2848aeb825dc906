//! The one path every error of a thread takes.

use crate::errors::{ErrorCounts, ErrorKind};

use super::control::Control;

/// The one path every error takes: this thread's counts, the current interval's count, and the
/// shared count that `--max-errors` and the progress line read.
#[derive(Debug)]
pub(crate) struct Tally<'a> {
    pub control: &'a Control,
    pub counts: ErrorCounts,
    interval: u64,
}

impl<'a> Tally<'a> {
    pub(super) fn new(control: &'a Control) -> Tally<'a> {
        Tally {
            control,
            counts: ErrorCounts::default(),
            interval: 0,
        }
    }

    /// Counts `n` errors of `kind`.
    pub(crate) fn add(&mut self, kind: ErrorKind, n: u64) {
        if n > 0 {
            self.counts.add(kind, n);
            self.interval += n;
            self.control.count_errors(n);
        }
    }

    pub(super) fn take_interval(&mut self) -> u64 {
        std::mem::take(&mut self.interval)
    }
}
