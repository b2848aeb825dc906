//! The limits every connection is held to, so no client — slow, silent, greedy or hostile —
//! can take more than its share of a worker, the descriptor table or memory:
//!
//! - a request begun must be finished within `--read-timeout` (slowloris),
//! - a connection with no request for `--idle-timeout` is closed,
//! - replies that make no progress toward the client for `--send-timeout` close it,
//! - unsent replies are bounded per connection (`--write-high-water`, shrinking to a fair share
//!   of the budget when there are many connections) and across the process (`--max-buffered`,
//!   a hard bound: a reply that does not fit waits for room), and under pressure a connection
//!   holding more than its share without its client reading is closed,
//! - each event-loop turn gives a connection at most [`TURN_REQUESTS`] requests and
//!   [`TURN_WORK_US`] of Work, then the next connection's turn comes,
//! - past `--max-connections` the longest-idle connection makes room, or the new one is closed.
//!
//! docs/limits.md has each default, why, and how it compares with nginx and Redis; the defaults
//! themselves are configuration (`config`), and why a limit closed a connection is an
//! `outcome::Expiry`, counted by `stats`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::ServerConfig;
use crate::turn::Allowance;

/// Requests one connection may have answered in one event-loop turn.
pub const TURN_REQUESTS: u32 = 128;
/// Work microseconds one connection may ask for in one event-loop turn (at least one request
/// always runs, so a single Work request up to `--work-cap-us` still does).
pub const TURN_WORK_US: u64 = 1_000;
/// The smallest share of the budget one connection may hold, however many there are.
pub const MIN_SHARE_BYTES: usize = 1024;
/// Under budget pressure, a connection over its share whose replies have made no progress for
/// this long is closed to make room.
pub const PRESSURE_STALL: Duration = Duration::from_millis(500);
/// The smallest piece of a Source reply worth producing on its own.
pub const SOURCE_PIECE_BYTES: usize = 16 * 1024;
/// A Source reply waiting for budget needs at least this much room to go on.
pub const SOURCE_RESUME_BYTES: usize = SOURCE_PIECE_BYTES / 16;
/// At `--max-connections`, only a connection idle at least this long is closed to make room.
pub const EVICT_IDLE_AFTER: Duration = Duration::from_secs(1);
/// Descriptors kept back from `--max-connections` for listeners, epoll, eventfds and files, and
/// for connections accepted past the limit that are not yet placed ([`ACCEPT_AHEAD`]).
pub const RESERVED_FDS: usize = 64;
/// How far past `--max-connections` an acceptor may get before it pauses and leaves new
/// connections in the kernel's queue until its workers have made room or refused them.
pub const ACCEPT_AHEAD: usize = 16;

/// A connection's limits, fixed for the server's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnLimits {
    pub write_high_water: usize,
    pub read_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub send_timeout: Option<Duration>,
}

impl ConnLimits {
    pub fn new(config: &ServerConfig) -> ConnLimits {
        ConnLimits {
            write_high_water: config.write_high_water,
            read_timeout: config.read_timeout,
            idle_timeout: config.idle_timeout,
            send_timeout: config.send_timeout,
        }
    }

    /// A fresh turn's allowance: the connection may hold at most `cap` unsent bytes.
    pub fn turn(&self, cap: usize) -> Allowance {
        Allowance {
            out_limit: 0,
            budget: 0,
            cap,
            requests: TURN_REQUESTS,
            work_us: TURN_WORK_US,
        }
    }

    /// How often a worker looks for connections past a timeout (or, under budget pressure,
    /// over their share): a quarter of the shortest timeout, between 50 ms and 1 s, so a
    /// timeout fires at most a quarter late; every second when no timeout is set.
    #[cfg_attr(not(feature = "pooled"), allow(dead_code))] // Workers are the pooled model's.
    pub fn sweep_every(&self) -> Duration {
        [self.read_timeout, self.idle_timeout, self.send_timeout]
            .into_iter()
            .flatten()
            .min()
            .map_or(Duration::from_secs(1), |d| {
                (d / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
            })
    }
}

/// The process-wide budget for unsent replies: bytes connections still hold after trying to
/// write them. Updated only when a connection's leftover changes, so a server whose clients
/// keep up never writes to it; producing a reply reads it once.
#[derive(Debug)]
pub struct BufferBudget {
    limit: usize,
    used: AtomicUsize,
    admission: Arc<Admission>,
}

impl BufferBudget {
    /// A budget of `limit` bytes, shared by the connections `admission` counts.
    pub fn new(limit: usize, admission: Arc<Admission>) -> BufferBudget {
        BufferBudget {
            limit,
            used: AtomicUsize::new(0),
            admission,
        }
    }

    /// What one connection may hold: half the budget split over the open connections (at
    /// least [`MIN_SHARE_BYTES`]), so no crowd of clients that do not read can take it all.
    #[inline]
    pub fn share(&self) -> usize {
        (self.limit / (2 * self.admission.open().max(1))).max(MIN_SHARE_BYTES)
    }

    /// `cap`, or the fair share when that is smaller (without dividing in the common case of a
    /// share far larger than any connection's cap).
    #[inline]
    pub fn cap(&self, cap: usize) -> usize {
        let open = self.admission.open().max(1);
        if self.limit / 2 >= open.saturating_mul(cap) {
            cap
        } else {
            cap.min(self.share())
        }
    }

    /// Whether more than half the budget is held: connections far over their share and not
    /// being read are then closed to make room.
    pub fn under_pressure(&self) -> bool {
        self.used() > self.limit / 2
    }

    /// Bytes still free.
    #[inline]
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.used.load(Ordering::Relaxed))
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Moves a connection's held bytes from `before` to `after`.
    #[inline]
    pub fn account(&self, before: usize, after: usize) {
        if after > before {
            self.used.fetch_add(after - before, Ordering::Relaxed);
        } else if before > after {
            self.used.fetch_sub(before - after, Ordering::Relaxed);
        }
    }
}

/// Connections open across the server, against `--max-connections`: counted when accepted,
/// released when closed, by whichever thread does either.
#[derive(Debug)]
pub struct Admission {
    open: AtomicUsize,
    max: usize,
}

impl Admission {
    /// Admission for at most `max` connections.
    pub fn new(max: usize) -> Admission {
        Admission {
            open: AtomicUsize::new(0),
            max,
        }
    }

    /// Counts a new connection; true if that puts the server over its limit (the connection
    /// must make room by closing an idle one, or be closed).
    #[inline]
    pub fn admit(&self) -> bool {
        self.open.fetch_add(1, Ordering::Relaxed) >= self.max
    }

    /// Counts a connection closed.
    #[inline]
    pub fn release(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// The limit.
    pub fn max(&self) -> usize {
        self.max
    }
}

/// Connections the descriptor limit `nofile` leaves room for, after the server's own.
pub fn descriptor_room(config: &ServerConfig, nofile: u64) -> usize {
    let fds = usize::try_from(nofile).unwrap_or(usize::MAX);
    fds.saturating_sub(RESERVED_FDS + 4 * config.workers).max(1)
}

/// The most connections this process holds: `--max-connections` if given (the user's call,
/// even past the descriptor limit), else what the descriptor limit leaves room for, so running
/// out of descriptors is never what refuses a client.
pub fn max_connections(config: &ServerConfig, nofile: u64) -> usize {
    config
        .max_connections
        .unwrap_or_else(|| descriptor_room(config, nofile))
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_moves_with_leftovers() {
        let b = BufferBudget::new(100, Arc::new(Admission::new(10)));
        b.account(0, 60);
        assert_eq!((b.used(), b.room()), (60, 40));
        b.account(60, 150);
        assert_eq!(b.room(), 0);
        b.account(150, 0);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn a_share_is_half_the_budget_over_the_open_connections() {
        let admission = Arc::new(Admission::new(100_000));
        let b = BufferBudget::new(16 << 20, admission.clone());
        assert_eq!(b.share(), 8 << 20, "alone, half of it");
        assert_eq!(b.cap(256 << 10), 256 << 10, "a cap under the share stands");
        for _ in 0..2_000 {
            admission.admit();
        }
        assert_eq!(b.share(), 4194, "2,000 connections: ~4 KiB each");
        for _ in 0..98_000 {
            admission.admit();
        }
        assert_eq!(b.share(), MIN_SHARE_BYTES);
        assert_eq!(b.cap(256 << 10), MIN_SHARE_BYTES);
        assert!(!b.under_pressure());
        b.account(0, 9 << 20);
        assert!(b.under_pressure());
    }

    #[test]
    fn admission_says_when_a_connection_is_one_too_many() {
        let a = Admission::new(2);
        assert!(!a.admit() && !a.admit());
        assert!(a.admit(), "the third is over");
        a.release();
        assert_eq!(a.open(), 2);
    }

    #[test]
    fn connections_stay_under_the_descriptor_limit() {
        let cfg = ServerConfig {
            workers: 2,
            ..ServerConfig::default()
        };
        assert_eq!(max_connections(&cfg, 20_000), 20_000 - 64 - 8);
        let capped = ServerConfig {
            max_connections: Some(500),
            ..cfg.clone()
        };
        assert_eq!(max_connections(&capped, 20_000), 500);
        let greedy = ServerConfig {
            max_connections: Some(1_000_000),
            ..cfg.clone()
        };
        assert_eq!(
            max_connections(&greedy, 20_000),
            1_000_000,
            "asked for on purpose"
        );
        assert_eq!(descriptor_room(&cfg, 20), 1);
    }

    #[test]
    fn sweeps_come_a_quarter_timeout_apart() {
        let l = ConnLimits {
            write_high_water: 1,
            read_timeout: Some(Duration::from_secs(1)),
            idle_timeout: None,
            send_timeout: Some(Duration::from_secs(30)),
        };
        assert_eq!(l.sweep_every(), Duration::from_millis(250));
        let none = ConnLimits {
            read_timeout: None,
            send_timeout: None,
            ..l
        };
        assert_eq!(none.sweep_every(), Duration::from_secs(1));
    }
}
