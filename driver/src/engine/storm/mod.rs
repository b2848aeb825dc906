//! One driver thread of a connection storm (seed 003's C10K test): its share of the connections
//! opened at its share of `--connect-rate`, each sending a timestamped message every
//! `--interval` once it is open (handshake included, for WebSocket), echo latency timed from
//! when each message was due. Unlike bench load, connecting is part of what is measured: the
//! thread starts with no connections, and the connect (and handshake) time of each is recorded.
//!
//! Connections, bytes and replies go through the same [`Conn`] and [`Books`] as bench load;
//! what is new is the pacing: a connect schedule, and a heap of per-connection message timers.
//!
//! With sessions (session.rs) a client closes on the driver's terms and a new one connects in
//! its slot (same token, same `--source` address) at once: the population stays steady, so the
//! replacement is not paced by `--connect-rate`, which paces the ramp only. A replacement that
//! fails to connect (or times out under `--connect-timeout`) is counted like any failed connect
//! and its slot stays empty: failures are reported, not retried into a stream of errors. Each
//! close leaves this side's local port in TIME_WAIT (the client closes first).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io;
use std::time::Duration;

use mio::{Events, Poll, Token};

mod session;

use session::{Due, Slot, Think};

use super::conn::{Cause, Conn, Connecting, Dial, Reply};
use super::control::Timeline;
use super::intervals::Shipper;
use super::wakeup::Wakeup;
use super::{thread_cpu_time, Books, ThreadPlan};
use crate::clock::RunClock;
use crate::config::{BenchConfig, Picker, Session, Storm};
use crate::errors::ErrorKind;
use crate::recorder::new_histogram;

/// The timer's token (connections use 0..).
const WAKEUP: Token = Token(usize::MAX);
/// Longest the loop sleeps.
const MAX_POLL_WAIT: Duration = Duration::from_millis(50);
/// Below this much time to the next due connect or message the loop wakes by its timerfd
/// instead of epoll's millisecond timeout.
const SPIN_BELOW_NS: u64 = 1_500_000;
/// How often connects and requests are checked against their timeouts.
const CHECK_EVERY_NS: u64 = 100_000_000;

/// What a storm thread measured besides what every thread does.
#[derive(Debug, Clone)]
pub struct StormThread {
    /// Connections this thread started (asked the kernel to connect).
    pub started: u64,
    /// Time from starting each connection to its being ready (handshake included), ns.
    pub connect_ns: hdrhistogram::Histogram<u64>,
    /// Connects given up after `--connect-timeout`.
    pub connect_timeouts: u64,
    /// CPU time spent spinning for the next due time (not work).
    pub idle_spin: Duration,
    /// Sessions that ended on the driver's terms (each then replaced, while the run lasted).
    pub sessions_completed: u64,
    /// Replies had by the clients still open when the run ended (their sessions unfinished).
    pub unfinished_replies: u64,
}

/// One storm thread's loop.
pub(crate) struct StormLoop<'a, 'b> {
    cfg: &'b BenchConfig,
    plan: &'b ThreadPlan,
    clock: RunClock,
    books: &'b mut Books<'a>,
    shipper: &'b mut Shipper,
    conns: Vec<Conn>,
    /// Each connection's client (same index).
    slots: Vec<Slot>,
    /// Slots whose session ended, to connect again.
    replacing: Vec<usize>,
    timers: BinaryHeap<Reverse<(u64, usize, Due)>>,
    failures: BTreeMap<String, u64>,
    stats: StormThread,
    next_id: u64,
    open: u64,
    connecting: u64,
    think: Think,
    session: Option<Session>,
    /// When the run stops issuing (no message or replacement after it).
    end_ns: u64,
    period_ns: u64,
    first_connect_ns: u64,
    idle_spin_ns: u64,
    wakeup: Option<Wakeup>,
    dial: Dial,
    /// What each connection's picker is made from.
    picker: Picker,
}

impl<'a, 'b> StormLoop<'a, 'b> {
    pub(crate) fn new(
        cfg: &'b BenchConfig,
        storm: &Storm,
        plan: &'b ThreadPlan,
        clock: RunClock,
        books: &'b mut Books<'a>,
        shipper: &'b mut Shipper,
        start_ns: u64,
    ) -> StormLoop<'a, 'b> {
        let threads = books.tally.control.threads();
        // The thread's connects are spaced threads/rate apart, offset so threads interleave.
        let period_ns = (threads as f64 * 1e9 / storm.connect_rate) as u64;
        StormLoop {
            cfg,
            plan,
            clock,
            books,
            shipper,
            conns: Vec::with_capacity(plan.connections),
            slots: Vec::with_capacity(plan.connections),
            replacing: Vec::new(),
            timers: BinaryHeap::with_capacity(plan.connections),
            failures: BTreeMap::new(),
            stats: StormThread {
                started: 0,
                connect_ns: new_histogram(),
                connect_timeouts: 0,
                idle_spin: Duration::ZERO,
                sessions_completed: 0,
                unfinished_replies: 0,
            },
            next_id: (plan.index as u64) << 48,
            open: 0,
            connecting: 0,
            think: Think::new(storm.think, storm.interval, storm.seed, plan.index),
            session: storm.session,
            end_ns: u64::MAX,
            period_ns: period_ns.max(1),
            first_connect_ns: start_ns + period_ns * plan.index as u64 / threads as u64,
            idle_spin_ns: 0,
            wakeup: None,
            dial: plan.dial(),
            picker: Picker::new(&cfg.request, 0),
        }
    }

    /// Runs the storm until the timeline's end and the replies are in (or the drain timeout, or
    /// a stop). Returns what it measured, its connect failures, and its CPU and wall time.
    pub(crate) fn run(
        mut self,
        poll: &mut Poll,
        events: &mut Events,
        timeline: Timeline,
    ) -> (StormThread, BTreeMap<String, u64>, Duration, Duration) {
        let cpu_before = thread_cpu_time();
        self.books.measure_start_ns = timeline.measure_start_ns;
        self.wakeup = Wakeup::new(poll.registry(), WAKEUP).ok();
        let start = self.clock.now_ns();
        let end_ns = timeline.end_ns.unwrap_or(u64::MAX);
        self.end_ns = end_ns;
        let drain_ns = self.cfg.drain_timeout.as_nanos() as u64;
        let mut next_check = start + CHECK_EVERY_NS;
        loop {
            let now = self.clock.now_ns();
            let conns = &self.conns;
            self.books.note_bytes(now, || super::bytes_of(conns));
            let books = &mut *self.books;
            self.shipper
                .ship_due(now, &mut || books.take_interval(super::bytes_of(conns).0));
            if self.books.tally.control.stopped() {
                break;
            }
            let issuing = now < end_ns;
            let settled = self.books.in_flight == 0 && self.connecting == 0;
            if !issuing && (settled || now >= end_ns + drain_ns) {
                break;
            }
            if issuing {
                self.start_due_connects(poll, now);
                self.send_due(now);
            }
            let wait = self.wait(now, end_ns);
            let sent_before = self.books.sent;
            match poll.poll(events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::error!(error = %e, "storm poll failed");
                    break;
                }
            }
            if wait.is_zero() && events.is_empty() && self.books.sent == sent_before {
                // A turn of the spin before a due time: not work.
                self.idle_spin_ns += self.clock.now_ns().saturating_sub(now);
            }
            for ev in events.iter() {
                if ev.token() == WAKEUP {
                    if let Some(w) = self.wakeup.as_mut() {
                        w.fired();
                    }
                    continue;
                }
                self.on_event(
                    ev.token().0,
                    ev.is_read_closed() || ev.is_error(),
                    ev.is_writable(),
                );
            }
            let now = self.clock.now_ns();
            if now >= next_check {
                next_check = now + CHECK_EVERY_NS;
                self.check_timeouts(now);
            }
            self.start_replacements(poll, now);
        }
        // Whatever is still in flight was neither answered nor given up on by the end.
        self.books.bytes_at_end = super::bytes_of(&self.conns);
        self.stats.unfinished_replies = (self.conns.iter().zip(&self.slots))
            .filter(|(c, _)| c.is_open())
            .map(|(_, s)| s.replies())
            .sum();
        let left = std::mem::take(&mut self.books.in_flight);
        if !self.books.tally.control.stopped() {
            self.books.tally.add(ErrorKind::DrainTimeout, left);
        }
        let wall = Duration::from_nanos(self.clock.now_ns().saturating_sub(start));
        let cpu = thread_cpu_time().saturating_sub(cpu_before);
        self.stats.idle_spin = Duration::from_nanos(self.idle_spin_ns);
        (self.stats, self.failures, cpu, wall)
    }

    /// Starts every connection whose turn in the connect schedule has come.
    fn start_due_connects(&mut self, poll: &Poll, now: u64) {
        while self.conns.len() < self.plan.connections {
            let k = self.conns.len() as u64;
            if self.first_connect_ns + k * self.period_ns > now {
                break;
            }
            // Source addresses in turn across every thread's connections.
            let global = k as usize * self.books.tally.control.threads() + self.plan.index;
            let source = (!self.cfg.source_addrs.is_empty())
                .then(|| self.cfg.source_addrs[global % self.cfg.source_addrs.len()]);
            let token = Token(self.conns.len());
            let (conn, err) = Conn::connect_from(
                &self.dial,
                source,
                token,
                poll.registry(),
                (
                    self.cfg.request.codec(),
                    self.picker.for_connection(
                        self.cfg.request.seed(),
                        self.plan.connection_index(k as usize),
                    ),
                ),
                now,
            );
            self.stats.started += 1;
            match err {
                Some(e) => self.connect_failed(&super::connect::errno_label(&e)),
                None => self.connecting += 1,
            }
            self.conns.push(conn);
            self.slots.push(Slot::new());
        }
    }

    /// Sends every message that is due, on connections still open.
    fn send_due(&mut self, now: u64) {
        while let Some(&Reverse((due, i, what))) = self.timers.peek() {
            if due > now {
                break;
            }
            self.timers.pop();
            let conn = &mut self.conns[i];
            if !conn.is_open() {
                continue;
            }
            if what == Due::End {
                self.slots[i].stop_sending();
                self.end_if_done(i);
                continue;
            }
            conn.send(self.next_id, due, now);
            // How late the driver sent it: the part of its echo latency that is the driver's.
            self.books.recorder.record_lag(now.saturating_sub(due));
            self.next_id += 1;
            self.books.sent += 1;
            self.books.in_flight += 1;
            if let Err(lost) = conn.flush() {
                self.lose(lost);
                continue;
            }
            let next = self.slots[i].sent(due, &self.think, self.session.as_ref());
            if let Some((at, what)) = next {
                self.timers.push(Reverse((at, i, what)));
            }
        }
    }

    /// How long to sleep: until the next connect or message is due. Sleeps under
    /// [`SPIN_BELOW_NS`] are left to the timerfd (epoll sleeps in whole milliseconds, rounded up,
    /// and a message sent late would carry the driver's lateness in its echo latency, which is
    /// timed from the due time).
    fn wait(&mut self, now: u64, end_ns: u64) -> Duration {
        let mut next = now + MAX_POLL_WAIT.as_nanos() as u64;
        if now < end_ns && self.conns.len() < self.plan.connections {
            next = next.min(self.first_connect_ns + self.conns.len() as u64 * self.period_ns);
        }
        if let Some(&Reverse((due, _, _))) = self.timers.peek() {
            next = next.min(due);
        }
        let until = next.saturating_sub(now);
        match self.wakeup.as_mut() {
            Some(w) if until < SPIN_BELOW_NS => {
                w.arm(now, next);
                MAX_POLL_WAIT
            }
            // Without a timerfd, spin the last stretch.
            None if until < SPIN_BELOW_NS => Duration::ZERO,
            _ => Duration::from_nanos(until - 1_000_000),
        }
    }

    fn on_event(&mut self, i: usize, to_eof: bool, writable: bool) {
        let Some(conn) = self.conns.get_mut(i) else {
            return;
        };
        if conn.is_connecting() {
            let now = self.clock.now_ns();
            match conn.poll_connect(now) {
                Connecting::Pending => {}
                Connecting::Established(o) => {
                    let started = conn.connect_started_ns();
                    self.books.handshakes.opened(&o, started, now);
                    let took = now.saturating_sub(conn.connect_started_ns());
                    let _ = self.stats.connect_ns.record(took.max(1));
                    self.connecting -= 1;
                    self.open += 1;
                    self.books.interval_opened += 1;
                    // The first message is due at once, then one gap after another.
                    self.slots[i].begin(&self.think, i, now);
                    self.timers.push(Reverse((now, i, Due::Send)));
                }
                Connecting::Failed(e) => {
                    self.connecting -= 1;
                    self.connect_failed(&super::connect::errno_label(&e));
                }
                Connecting::Refused(kind) => {
                    self.connecting -= 1;
                    self.connect_failed(kind);
                }
                Connecting::TlsFailed(f) => {
                    self.connecting -= 1;
                    self.tls_failed(f);
                }
            }
            return;
        }
        if !conn.is_open() {
            return;
        }
        let books = &mut *self.books;
        let slot = &mut self.slots[i];
        let mut moved = conn
            .read(self.clock, to_eof, &mut |now, r, k| {
                if matches!(r, Reply::Answered { .. }) {
                    slot.answered();
                }
                books.on_reply(now, r, k);
            })
            .map(|_| ());
        if moved.is_ok() && writable {
            moved = conn.flush();
        }
        match moved {
            Ok(()) => self.end_if_done(i),
            Err(lost) => self.lose(lost),
        }
    }

    fn lose(&mut self, lost: super::conn::Lost) {
        // A storm holds connections; one the server closes, even as it said, is lost.
        let lost = match lost.cause {
            Cause::ServerClosed => super::conn::Lost {
                cause: Cause::Error(ErrorKind::ConnectionClosed),
                ..lost
            },
            _ => lost,
        };
        self.books.on_lost(lost);
        self.open -= 1;
    }

    /// A TLS handshake failed: counted by its kind, not as a connect failure.
    fn tls_failed(&mut self, f: crate::transport::Failure) {
        let kind = f.kind.error_kind();
        *self.failures.entry(kind.name().to_string()).or_default() += 1;
        self.books.handshakes.failed(f, &mut self.books.tally);
    }

    fn connect_failed(&mut self, why: &str) {
        *self.failures.entry(why.to_string()).or_default() += 1;
        self.books.tally.add(ErrorKind::Connect, 1);
    }

    /// Gives up on connects older than `--connect-timeout` and requests older than
    /// `--timeout`.
    fn check_timeouts(&mut self, now: u64) {
        let connect_ns = self.cfg.connect_timeout.as_nanos() as u64;
        let request_ns = self.cfg.request_timeout.as_nanos() as u64;
        for i in 0..self.conns.len() {
            if self.conns[i].connect_overdue(now, connect_ns) {
                let securing = self.conns[i].is_securing();
                self.conns[i].close();
                self.connecting -= 1;
                self.stats.connect_timeouts += 1;
                if securing {
                    self.tls_failed(crate::transport::Failure::timed_out(
                        self.cfg.connect_timeout,
                    ));
                } else {
                    self.connect_failed("ETIMEDOUT");
                }
                continue;
            }
            if !self.conns[i].is_open() {
                continue;
            }
            let expired = self.conns[i].expire(now, request_ns);
            self.books.tally.add(ErrorKind::Timeout, expired.timed_out);
            self.books.in_flight -= expired.timed_out;
            if let Some(aborted) = expired.closed_aborting {
                self.books.aborted(aborted);
                self.open -= 1;
            }
            self.end_if_done(i);
        }
    }
}
