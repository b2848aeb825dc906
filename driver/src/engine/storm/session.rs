//! One storm client's session, the gaps between its messages (`--think`), and the storm loop's
//! side of sessions: ending one and connecting its replacement.
//!
//! A storm thread keeps one [`Slot`] per connection it holds. Without sessions a slot's client
//! lives to the end of the run. With sessions (`--session-messages`, `--session-duration`) the
//! client ends on the driver's terms: it sends nothing past either cap, then closes once the
//! replies in flight are in, and a new client connects in the same slot. So the heap of timers
//! never holds more than one entry per slot, and no request is ever cut off (or counted as an
//! error) because the driver chose to end a session:
//!
//! - message-count sessions stop scheduling after their N-th message and close on its reply;
//! - duration sessions stop at D after they connected (an `End` timer takes the place of the
//!   first message that would fall due at or past D) and close then, or once the replies still
//!   in flight are in. A session sends its first message as it connects, so every session sends
//!   at least one.
//!
//! Poisson gaps are drawn from a generator each connection seeds from the run's `--seed`, the
//! thread, the slot and the slot's session number: the same seed gives every connection the same
//! gaps, whatever order the sessions happen to end in.

use std::time::Duration;

use mio::Poll;

use super::StormLoop;
use crate::config::Session;
use crate::schedule::{Arrival, SplitMix64};

/// What a slot's timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Due {
    /// Its next message is due.
    Send,
    /// Its session has lasted `--session-duration`.
    End,
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Sending on its schedule.
    Sending,
    /// Past its cap: sends nothing more, closes once nothing is in flight.
    Finishing,
}

/// How a run's clients space their messages.
#[derive(Debug, Clone, Copy)]
pub(super) struct Think {
    arrival: Arrival,
    mean_ns: f64,
    seed: u64,
    thread: u64,
}

impl Think {
    /// Gaps of `interval` on average, spaced as `arrival` says, for thread `thread`.
    pub(super) fn new(arrival: Arrival, interval: Duration, seed: u64, thread: usize) -> Think {
        Think {
            arrival,
            mean_ns: interval.as_nanos().max(1) as f64,
            seed,
            thread: thread as u64,
        }
    }

    /// The generator of the `ordinal`-th session of `slot`, distinct per connection.
    fn rng(&self, slot: usize, ordinal: u64) -> SplitMix64 {
        let mut h = SplitMix64::new(self.seed);
        for part in [self.thread, slot as u64, ordinal] {
            h = SplitMix64::new(h.next_u64() ^ part);
        }
        h
    }

    /// The gap before a connection's next message, ns.
    fn gap(&self, rng: &mut SplitMix64) -> u64 {
        match self.arrival {
            Arrival::Constant => self.mean_ns as u64,
            Arrival::Poisson => (-rng.next_open01().ln() * self.mean_ns) as u64,
        }
    }
}

/// One connection slot's client: when it connected, what it sent and had answered.
#[derive(Debug)]
pub(super) struct Slot {
    opened_ns: u64,
    sent: u64,
    answered: u64,
    phase: Phase,
    /// Sessions begun in this slot.
    ordinal: u64,
    rng: SplitMix64,
}

impl Slot {
    /// A slot whose first client is connecting.
    pub(super) fn new() -> Slot {
        Slot {
            opened_ns: 0,
            sent: 0,
            answered: 0,
            phase: Phase::Sending,
            ordinal: 0,
            rng: SplitMix64::new(0),
        }
    }

    /// Its client (slot `slot`) connected at `now`: a new session begins.
    pub(super) fn begin(&mut self, think: &Think, slot: usize, now: u64) {
        self.opened_ns = now;
        self.sent = 0;
        self.answered = 0;
        self.phase = Phase::Sending;
        self.rng = think.rng(slot, self.ordinal);
        self.ordinal += 1;
    }

    /// A message due at `due` was sent: the slot's next timer, if it has one (none once the
    /// session has sent its last message).
    pub(super) fn sent(
        &mut self,
        due: u64,
        think: &Think,
        session: Option<&Session>,
    ) -> Option<(u64, Due)> {
        self.sent += 1;
        let next = due.saturating_add(think.gap(&mut self.rng));
        let Some(s) = session else {
            return Some((next, Due::Send));
        };
        if s.messages.is_some_and(|n| self.sent >= n) {
            self.phase = Phase::Finishing;
            return None;
        }
        match s.duration {
            Some(d) => {
                let end = self.opened_ns.saturating_add(d.as_nanos() as u64);
                Some(if next >= end {
                    (end, Due::End)
                } else {
                    (next, Due::Send)
                })
            }
            None => Some((next, Due::Send)),
        }
    }

    /// Its session has lasted its duration: it sends nothing more.
    pub(super) fn stop_sending(&mut self) {
        self.phase = Phase::Finishing;
    }

    /// A reply to one of its messages came.
    pub(super) fn answered(&mut self) {
        self.answered += 1;
    }

    /// Replies its current client has had.
    pub(super) fn replies(&self) -> u64 {
        self.answered
    }

    /// Whether its session is over, with `in_flight` requests still out: past its cap and
    /// nothing in flight.
    pub(super) fn is_done(&self, in_flight: usize) -> bool {
        self.phase == Phase::Finishing && in_flight == 0
    }
}

/// The storm loop's side of sessions: ending one, and connecting its replacement.
impl StormLoop<'_, '_> {
    /// Connects a new client in each slot whose session ended, at once: the same token and
    /// source address, the connect timed from now. Sessions end only while the run issues
    /// ([`Self::end_if_done`]), so each replacement belongs to the run even when the loop gets
    /// to it a moment after the end (a late wakeup); the drain waits for it to connect.
    pub(super) fn start_replacements(&mut self, poll: &Poll, now: u64) {
        if self.books.tally.control.stopped() {
            // Stopped (Ctrl-C, --max-errors): the run ends here, nothing more is started.
            self.replacing.clear();
            return;
        }
        for i in std::mem::take(&mut self.replacing) {
            self.stats.started += 1;
            match self.conns[i].reconnect(poll.registry(), now) {
                Ok(()) => self.connecting += 1,
                Err(e) => self.connect_failed(&crate::engine::connect::errno_label(&e)),
            }
        }
    }

    /// Ends slot `i`'s session if it is over (past its cap, nothing in flight): a clean close,
    /// counted as a session completed, and a new client to connect in its place. Once the run
    /// has stopped issuing, a session stays open: its last replies still come in, but it could
    /// not be replaced, so ending it would leave its slot empty at the end. It is counted open
    /// at the end, with its replies among the unfinished ones.
    pub(super) fn end_if_done(&mut self, i: usize) {
        if !(self.conns[i].is_open() && self.slots[i].is_done(self.conns[i].in_flight())) {
            return;
        }
        if self.clock.now_ns() >= self.end_ns {
            return;
        }
        self.conns[i].close();
        self.open -= 1;
        self.stats.sessions_completed += 1;
        self.books.interval_closed += 1;
        self.replacing.push(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_session(session: Option<Session>, think: &Think, until: u64) -> (u64, Option<Due>) {
        let mut slot = Slot::new();
        slot.begin(think, 0, 0);
        let mut timer = Some((0, Due::Send));
        while let Some((at, Due::Send)) = timer {
            if at >= until {
                break;
            }
            timer = slot.sent(at, think, session.as_ref());
        }
        (slot.sent, timer.map(|t| t.1))
    }

    #[test]
    fn a_session_sends_up_to_its_first_cap_then_finishes() {
        let ms = Duration::from_millis(1);
        let think = Think::new(Arrival::Constant, 10 * ms, 1, 0);
        let count = Session::new(Some(3), None);
        assert_eq!(run_session(count, &think, u64::MAX), (3, None));
        // 25 ms: messages at 0, 10 and 20 ms, then the end at 25 ms takes the one due at 30.
        let lasting = Session::new(None, Some(25 * ms));
        assert_eq!(run_session(lasting, &think, u64::MAX), (3, Some(Due::End)));
        // Whichever comes first.
        let both = Session::new(Some(2), Some(25 * ms));
        assert_eq!(run_session(both, &think, u64::MAX), (2, None));
        let both = Session::new(Some(9), Some(25 * ms));
        assert_eq!(run_session(both, &think, u64::MAX), (3, Some(Due::End)));
        // A session shorter than one gap still sends its first message.
        let short = Session::new(None, Some(ms));
        assert_eq!(run_session(short, &think, u64::MAX), (1, Some(Due::End)));
        // Held: it sends until the run ends.
        assert_eq!(run_session(None, &think, 95_000_000).0, 10);
        let mut slot = Slot::new();
        slot.begin(&think, 0, 0);
        assert!(slot.sent(0, &think, count.as_ref()).is_some());
        assert!(!slot.is_done(0), "still sending");
        slot.stop_sending();
        assert!(!slot.is_done(1) && slot.is_done(0));
    }

    #[test]
    fn poisson_gaps_have_the_interval_as_mean_and_the_seed_repeats_them() {
        let interval = Duration::from_millis(10);
        let gaps = |seed, slot, ordinal| -> Vec<u64> {
            let think = Think::new(Arrival::Poisson, interval, seed, 2);
            let mut rng = think.rng(slot, ordinal);
            (0..20_000).map(|_| think.gap(&mut rng)).collect()
        };
        let g = gaps(7, 3, 0);
        let mean = g.iter().sum::<u64>() as f64 / g.len() as f64;
        // 20,000 exponential gaps: the mean's standard error is 0.7% of it.
        assert!(
            (mean / 1e7 - 1.0).abs() < 0.03,
            "mean gap {mean} ns for a 10 ms interval"
        );
        // About 1 - 1/e of exponential gaps are below the mean.
        let below = g.iter().filter(|&&x| x < 10_000_000).count() as f64 / g.len() as f64;
        assert!((below - 0.632).abs() < 0.02, "{below}");
        assert_eq!(g, gaps(7, 3, 0), "the same seed gives the same gaps");
        for other in [gaps(8, 3, 0), gaps(7, 4, 0), gaps(7, 3, 1)] {
            assert_ne!(g[..10], other[..10], "each connection draws its own");
        }
        let constant = Think::new(Arrival::Constant, interval, 7, 0);
        assert_eq!(constant.gap(&mut constant.rng(0, 0)), 10_000_000);
    }
}
