//! A precise wake-up for event loops whose next due time is less than a millisecond away:
//! epoll sleeps in whole milliseconds (rounded up), so a loop that sleeps until a message is
//! due sends it up to a millisecond late, and one that spins instead burns its core (and, with
//! several driver processes on one core, steals it from the others). A timerfd armed for the
//! due time and registered in the loop's poll wakes it on time without spinning.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

/// A one-shot timer in a mio poll.
#[derive(Debug)]
pub(crate) struct Wakeup {
    fd: TimerFd,
    armed_for: Option<u64>,
}

impl Wakeup {
    /// A timer registered under `token`.
    pub(crate) fn new(registry: &Registry, token: Token) -> io::Result<Wakeup> {
        // Timers of a normal thread may fire up to 50 µs late (timer slack): ask for none, for
        // this thread.
        let _ = nix::sys::prctl::set_timerslack(1);
        let fd = TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_NONBLOCK)?;
        registry.register(
            &mut SourceFd(&fd.as_fd().as_raw_fd()),
            token,
            Interest::READABLE,
        )?;
        Ok(Wakeup {
            fd,
            armed_for: None,
        })
    }

    /// Arms the timer to fire at `at` (run clock, ns), `now` being the run clock now; a time
    /// already armed is left alone.
    pub(crate) fn arm(&mut self, now: u64, at: u64) {
        if self.armed_for == Some(at) {
            return;
        }
        // A zero expiration would disarm it: fire in a nanosecond instead.
        let after = Duration::from_nanos(at.saturating_sub(now).max(1));
        let set = self.fd.set(
            Expiration::OneShot(TimeSpec::from_duration(after)),
            TimerSetTimeFlags::empty(),
        );
        self.armed_for = set.is_ok().then_some(at);
    }

    /// Takes the expiry off the timer after it fired.
    pub(crate) fn fired(&mut self) {
        let mut buf = [0u8; 8];
        let _ = nix::unistd::read(self.fd.as_fd(), &mut buf);
        self.armed_for = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timer_wakes_a_poll_well_inside_a_millisecond() {
        let mut poll = mio::Poll::new().unwrap();
        let mut w = Wakeup::new(poll.registry(), Token(7)).unwrap();
        let mut events = mio::Events::with_capacity(4);
        let start = std::time::Instant::now();
        w.arm(0, 300_000);
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        let took = start.elapsed();
        assert_eq!(events.iter().next().map(|e| e.token()), Some(Token(7)));
        assert!(
            took >= Duration::from_micros(300) && took < Duration::from_millis(20),
            "{took:?}"
        );
        w.fired();
    }
}
