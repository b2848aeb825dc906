//! The pacer decides when a request is due and with what intended send time; it alone knows
//! whether the load is closed or open loop. The load loop asks it one question: "a connection
//! has a free slot now, is a request due?"
//!
//! - Closed loop: a request is due whenever a slot is free, intended now, while the window is
//!   open.
//! - Open loop: requests fall due on the [`Schedule`]. A due request that finds no free slot
//!   stays in the schedule: the schedule *is* the backlog, so an overloaded target costs no
//!   memory, and the request keeps its due time, so its wait counts in its latency. One still
//!   unsent `--timeout` after it fell due is given up on and counted as `unsent`.
//!
//! A connection ramp (connections opened at a rate, as storms need) and per-connection schedules
//! are further variants of this enum; the loop does not change.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Arrivals, Rate};
use crate::schedule::{Schedule, SplitMix64};

/// Which pacer a bench thread gets: what its load model says, before the run's timeline is
/// known.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Pace {
    /// A request whenever a slot is free.
    Closed,
    /// Requests on a schedule at `rate` across every thread (steady, or in stages).
    Open { rate: Rate, arrivals: Arrivals },
}

/// Which requests belong to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Window {
    /// Requests due before `end_ns`.
    Until {
        /// End of measurement on the run clock.
        end_ns: u64,
    },
    /// Warm-up requests (due before `measure_start_ns`), then `left` more.
    Count {
        /// Start of measurement on the run clock.
        measure_start_ns: u64,
        /// Measured requests still to issue.
        left: u64,
    },
}

impl Window {
    /// Whether a request due at `t` belongs to the run.
    fn allows(&self, t: u64) -> bool {
        match *self {
            Window::Until { end_ns } => t < end_ns,
            Window::Count {
                measure_start_ns,
                left,
            } => t < measure_start_ns || left > 0,
        }
    }

    /// Like [`Window::allows`], and takes one from the count when `t` is measured.
    fn take(&mut self, t: u64) -> bool {
        if !self.allows(t) {
            return false;
        }
        if let Window::Count {
            measure_start_ns,
            left,
        } = self
        {
            if t >= *measure_start_ns {
                *left -= 1;
            }
        }
        true
    }
}

/// A request that is due now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Due {
    /// When it was meant to be sent: latency is measured from here.
    pub intended_ns: u64,
    /// Open loop: how late the driver itself sent it, from when both the request was due and
    /// a slot was free.
    pub lag_ns: Option<u64>,
}

/// Closed or open loop.
#[derive(Debug, Clone)]
pub(crate) enum Pacer {
    /// A request whenever a slot is free.
    Closed { window: Window },
    /// Requests on a schedule.
    Open {
        /// Due times not yet taken; the ones at or before now are the backlog.
        schedule: Schedule,
        /// Which due times belong to the run.
        window: Window,
        /// A request still unsent this long after it fell due is given up on.
        timeout_ns: u64,
    },
}

impl Pacer {
    /// The pacer of thread `index` of `threads`: closed loop, or open loop on its own schedule
    /// from `start_ns` (its share of the rate, on a stream derived from the run's seed); an
    /// open-loop request unsent `timeout` after it fell due is given up on.
    pub(crate) fn new(
        pace: Pace,
        window: Window,
        start_ns: u64,
        index: usize,
        threads: usize,
        timeout: Duration,
    ) -> Pacer {
        match pace {
            Pace::Closed => Pacer::Closed { window },
            Pace::Open { rate, arrivals } => {
                let seed = SplitMix64::new(
                    arrivals.seed ^ (index as u64).wrapping_mul(0xA24B_AED4_963E_E407),
                )
                .next_u64();
                let share = 1.0 / threads.max(1) as f64;
                let schedule = match rate {
                    Rate::Steady { rate_per_s } => {
                        Schedule::new(start_ns, rate_per_s * share, arrivals.arrival, seed)
                    }
                    Rate::Staged { stages } => Schedule::ramped(
                        start_ns,
                        Arc::new(stages.ramp().scaled(share)),
                        arrivals.arrival,
                        seed,
                        (index, threads),
                    ),
                };
                Pacer::Open {
                    schedule,
                    window,
                    timeout_ns: timeout.as_nanos() as u64,
                }
            }
        }
    }

    /// The request due now for a slot free since `free_since`, if one is.
    pub(crate) fn take(&mut self, now: u64, free_since: u64) -> Option<Due> {
        match self {
            Pacer::Closed { window } => window.take(now).then_some(Due {
                intended_ns: now,
                lag_ns: None,
            }),
            Pacer::Open {
                schedule, window, ..
            } => {
                let due = schedule.peek();
                if due > now || !window.take(due) {
                    return None;
                }
                schedule.take();
                Some(Due {
                    intended_ns: due,
                    lag_ns: Some(now - due.max(free_since).min(now)),
                })
            }
        }
    }

    /// Whether the window is still open: requests will still fall due after `now`. A
    /// schedule that has run out (stages ramped down to 0) keeps the window open to its end,
    /// so the run lasts as long as it says and its last seconds are measured, empty or not.
    pub(crate) fn issuing(&self, now: u64) -> bool {
        match self {
            Pacer::Closed { window } => window.allows(now),
            Pacer::Open {
                schedule, window, ..
            } => match schedule.peek() {
                u64::MAX => window.allows(now),
                next => window.allows(next.max(now)),
            },
        }
    }

    /// Open loop: whether requests that fell due in the window are still waiting for a slot.
    pub(crate) fn backlogged(&self, now: u64) -> bool {
        match self {
            Pacer::Closed { .. } => false,
            Pacer::Open {
                schedule, window, ..
            } => schedule.peek() <= now && window.allows(schedule.peek()),
        }
    }

    /// Open loop: when the next request falls due (it may already have).
    pub(crate) fn next_due(&self) -> Option<u64> {
        match self {
            Pacer::Closed { .. } => None,
            Pacer::Open { schedule, .. } => Some(schedule.peek()),
        }
    }

    /// Gives up on requests that fell due `timeout` ago or more and are still unsent; returns
    /// how many (open loop; closed loop never has unsent requests).
    pub(crate) fn expire_unsent(&mut self, now: u64) -> u64 {
        match self {
            Pacer::Closed { .. } => 0,
            Pacer::Open {
                schedule,
                window,
                timeout_ns,
            } => {
                let limit = now.saturating_sub(*timeout_ns);
                drop_due(schedule, window, |due| due <= limit && now >= *timeout_ns)
            }
        }
    }

    /// At the end of a run: gives up on every request already due and unsent; returns how many.
    pub(crate) fn abandon(&mut self, now: u64) -> u64 {
        match self {
            Pacer::Closed { .. } => 0,
            Pacer::Open {
                schedule, window, ..
            } => drop_due(schedule, window, |due| due <= now),
        }
    }
}

/// Takes due times off the schedule while `expired` says so and the window allows them.
fn drop_due(schedule: &mut Schedule, window: &mut Window, expired: impl Fn(u64) -> bool) -> u64 {
    let mut n = 0;
    loop {
        let due = schedule.peek();
        if !expired(due) || !window.take(due) {
            return n;
        }
        schedule.take();
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Arrival;

    const MS: u64 = 1_000_000;

    fn open(rate: f64, window: Window, timeout_ns: u64) -> Pacer {
        Pacer::Open {
            schedule: Schedule::new(0, rate, Arrival::Constant, 0),
            window,
            timeout_ns,
        }
    }

    #[test]
    fn closed_loop_sends_now_until_the_window_closes() {
        let mut p = Pacer::Closed {
            window: Window::Until { end_ns: 10 },
        };
        assert_eq!(
            p.take(3, 0),
            Some(Due {
                intended_ns: 3,
                lag_ns: None
            })
        );
        assert!(p.issuing(9) && !p.issuing(10));
        assert_eq!(p.take(10, 0), None);
        let mut p = Pacer::Closed {
            window: Window::Count {
                measure_start_ns: 5,
                left: 2,
            },
        };
        // Warm-up requests do not count; measured ones do.
        assert!(p.take(1, 0).is_some() && p.take(2, 0).is_some());
        assert!(p.take(6, 0).is_some() && p.take(7, 0).is_some());
        assert_eq!(p.take(8, 0), None);
        assert!(!p.issuing(8));
    }

    #[test]
    fn open_loop_keeps_due_times_and_measures_lag_from_when_a_slot_was_free() {
        // 1,000/s: due at 0, 1 ms, 2 ms, ...
        let mut p = open(1000.0, Window::Until { end_ns: 100 * MS }, 10_000 * MS);
        assert_eq!(
            p.take(0, 0).unwrap(),
            Due {
                intended_ns: 0,
                lag_ns: Some(0)
            }
        );
        assert_eq!(p.take(MS / 2, 0), None, "not due yet");
        // Three requests fall due while no slot is free; a slot frees at 3.5 ms: the oldest
        // goes first with its own due time, and the driver was not late (the slot was not free).
        let d = p.take(3 * MS + MS / 2, 3 * MS + MS / 2).unwrap();
        assert_eq!(
            d,
            Due {
                intended_ns: MS,
                lag_ns: Some(0)
            }
        );
        // A slot free since 1 ms, the driver getting to it at 2.2 ms: 0.2 ms of driver lag.
        let d = p.take(2 * MS + MS / 5, MS).unwrap();
        assert_eq!(
            d,
            Due {
                intended_ns: 2 * MS,
                lag_ns: Some(MS / 5)
            }
        );
    }

    #[test]
    fn open_loop_backlog_is_bounded_by_the_timeout_and_counted_not_stored() {
        let mut p = open(
            1e6,
            Window::Until {
                end_ns: 10_000 * MS,
            },
            100 * MS,
        );
        // Nothing sent for 1 s at 1M/s: everything due before 900 ms is past the 100 ms timeout.
        assert_eq!(p.expire_unsent(1_000 * MS), 900_001);
        assert_eq!(p.next_due(), Some(900 * MS + 1_000));
        // At the end, what is due and unsent is abandoned too.
        assert!(p.backlogged(1_000 * MS));
        assert_eq!(p.abandon(1_000 * MS), 100_000);
        assert!(p.issuing(1_000 * MS) && !p.backlogged(1_000 * MS));
        // Past the window's end nothing more falls due, backlog or not.
        assert!(!p.issuing(10_000 * MS));
    }

    #[test]
    fn unsent_requests_use_up_a_request_count() {
        let mut p = open(
            1000.0,
            Window::Count {
                measure_start_ns: 0,
                left: 5,
            },
            MS,
        );
        assert_eq!(p.expire_unsent(100 * MS), 5);
        assert!(!p.issuing(100 * MS), "the count is used up");
        assert_eq!(p.take(200 * MS, 0), None);
    }
}
