//! The load loop of one driver thread: poll, read replies, give free slots the requests the
//! pacer says are due, write, and give up on what has waited too long. It reads like the
//! design: the pacer decides when, the connection moves bytes, the books record.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use mio::{Events, Poll, Registry};

use super::conn::{Cause, Conn, Connecting};
use super::control::Timeline;
use super::intervals::Shipper;
use super::pacer::Pacer;
use super::{thread_cpu_time, Books};
use crate::clock::RunClock;
use crate::config::BenchConfig;
use crate::errors::ErrorKind;

/// Longest the loop sleeps before looking at the stop flag and the clock again.
const MAX_POLL_WAIT: Duration = Duration::from_millis(50);
/// Below this much time to the next due request the loop spins instead of sleeping in epoll,
/// whose timeout has millisecond granularity.
const SPIN_BELOW_NS: u64 = 1_500_000;

/// What the loop measured about itself.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LoopTimes {
    /// CPU time used while loading.
    pub cpu: Duration,
    /// Part of it spent spinning idle before due times.
    pub idle_spin: Duration,
    /// Wall time spent loading.
    pub wall: Duration,
    /// Requests in flight when the run was stopped early.
    pub in_flight_at_stop: u64,
}

/// Connections with a free slot, oldest first, each with the time its slot became free.
#[derive(Debug, Default)]
struct Ready {
    queue: VecDeque<(usize, u64)>,
    queued: Vec<bool>,
}

impl Ready {
    fn push(&mut self, i: usize, since: u64) {
        if !self.queued[i] {
            self.queued[i] = true;
            self.queue.push_back((i, since));
        }
    }

    /// Returns a connection to the front: nothing was due for it, and it has waited longest.
    fn put_back(&mut self, i: usize, since: u64) {
        if !self.queued[i] {
            self.queued[i] = true;
            self.queue.push_front((i, since));
        }
    }

    /// When the connection that has waited longest became free.
    fn oldest_since(&self) -> Option<u64> {
        self.queue.front().map(|(_, since)| *since)
    }

    fn pop(&mut self) -> Option<(usize, u64)> {
        let (i, since) = self.queue.pop_front()?;
        self.queued[i] = false;
        Some((i, since))
    }
}

/// One thread's load loop.
pub(crate) struct BenchLoop<'a, 'b> {
    clock: RunClock,
    pipeline: usize,
    timeout_ns: u64,
    connect_timeout_ns: u64,
    drain_ns: u64,
    check_every_ns: u64,
    pacer: Pacer,
    ready: Ready,
    next_id: u64,
    open: usize,
    books: &'b mut Books<'a>,
    shipper: &'b mut Shipper,
    drain_deadline: Option<u64>,
    next_check_ns: u64,
    idle_spin_ns: u64,
    touched: Vec<usize>,
}

impl<'a, 'b> BenchLoop<'a, 'b> {
    /// A loop over `conns`, keeping up to `pipeline` requests in flight on each, for the
    /// thread `shipper` ships for.
    pub(crate) fn new(
        cfg: &BenchConfig,
        pipeline: usize,
        clock: RunClock,
        pacer: Pacer,
        books: &'b mut Books<'a>,
        shipper: &'b mut Shipper,
        conns: &[Conn],
    ) -> BenchLoop<'a, 'b> {
        let timeout_ns = cfg.request_timeout.as_nanos().max(1) as u64;
        BenchLoop {
            clock,
            pipeline: pipeline.max(1),
            timeout_ns,
            connect_timeout_ns: cfg.connect_timeout.as_nanos() as u64,
            drain_ns: cfg.drain_timeout.as_nanos() as u64,
            // Look for expired requests ten times per timeout period (1 ms .. 100 ms apart).
            check_every_ns: (timeout_ns / 10).clamp(1_000_000, 100_000_000),
            pacer,
            ready: Ready {
                queue: VecDeque::with_capacity(conns.len()),
                queued: vec![false; conns.len()],
            },
            next_id: (shipper.thread() as u64) << 48,
            open: conns.iter().filter(|c| c.is_open()).count(),
            books,
            shipper,
            drain_deadline: None,
            next_check_ns: 0,
            idle_spin_ns: 0,
            touched: Vec::new(),
        }
    }

    /// Applies load from `timeline.start_ns` until the window closes and the replies are in
    /// (or the drain timeout passes, or the run is stopped).
    pub(crate) fn run(
        &mut self,
        poll: &mut Poll,
        events: &mut Events,
        conns: &mut [Conn],
        timeline: Timeline,
    ) -> LoopTimes {
        self.books.measure_start_ns = timeline.measure_start_ns;
        let cpu_before = thread_cpu_time();
        let start = self.clock.now_ns();
        self.next_check_ns = start + self.check_every_ns;
        // With no warm-up the measurement begins with the first requests, sent here.
        self.books.note_bytes(start, || super::bytes_of(conns));
        for i in 0..conns.len() {
            self.fill(conns, i, start);
        }
        loop {
            if self.books.tally.control.stopped() || self.open == 0 {
                break;
            }
            let now = self.clock.now_ns();
            self.books.note_bytes(now, || super::bytes_of(conns));
            let books = &mut *self.books;
            self.shipper
                .ship_due(now, &mut || books.take_interval(super::bytes_of(conns).0));
            let unsent = self.pacer.expire_unsent(now);
            self.books.tally.add(ErrorKind::Unsent, unsent);
            let sent = self.send_due(conns, now);
            let Some(wait) = self.wait(now) else { break };
            let Some(had_events) = self.poll_once(poll, events, conns, wait) else {
                break;
            };
            if wait.is_zero() && !had_events && sent == 0 && unsent == 0 {
                // A turn of the spin before a due time: nothing to do but look at the clock.
                self.idle_spin_ns += self.clock.now_ns().saturating_sub(now);
            }
            self.expire_if_due(conns);
        }
        let in_flight_at_stop = self.finish();
        self.books.bytes_at_end = super::bytes_of(conns);
        let stopped = self.clock.now_ns();
        LoopTimes {
            cpu: thread_cpu_time().saturating_sub(cpu_before),
            idle_spin: Duration::from_nanos(self.idle_spin_ns),
            wall: Duration::from_nanos(stopped.saturating_sub(start)),
            in_flight_at_stop,
        }
    }

    /// Gives connection `i` the requests due for its free slots, writes them, and queues it as
    /// ready if slots are left.
    fn fill(&mut self, conns: &mut [Conn], i: usize, now: u64) {
        let conn = &mut conns[i];
        if !conn.is_open() {
            return;
        }
        // A slot has been free since the oldest connection waiting in the ready queue became
        // free (or since now): a request due after that and sent only now was late by the
        // driver's doing, whichever connection takes it.
        let free_since = self.ready.oldest_since().map_or(now, |t| t.min(now));
        while conn.in_flight() < self.pipeline {
            let Some(due) = self.pacer.take(now, free_since) else {
                break;
            };
            send(conn, &mut self.next_id, self.books, due, now);
        }
        self.flush(conns, i);
        if conns[i].is_open() && conns[i].in_flight() < self.pipeline {
            self.ready.push(i, now);
        }
    }

    /// Open loop: sends every request due now on connections waiting with a free slot, in turn.
    /// Returns how many it sent.
    fn send_due(&mut self, conns: &mut [Conn], now: u64) -> usize {
        while let Some((i, since)) = self.ready.pop() {
            let conn = &mut conns[i];
            if !conn.is_open() || conn.in_flight() >= self.pipeline {
                continue;
            }
            let Some(due) = self.pacer.take(now, since) else {
                self.ready.put_back(i, since);
                break;
            };
            send(conn, &mut self.next_id, self.books, due, now);
            self.touched.push(i);
            if conn.in_flight() < self.pipeline {
                self.ready.push(i, since);
            }
        }
        let mut touched = std::mem::take(&mut self.touched);
        let sent = touched.len();
        for &i in &touched {
            self.flush(conns, i);
        }
        touched.clear();
        self.touched = touched;
        sent
    }

    /// How long the next poll may sleep, or `None` when the thread is done. Once the window
    /// closes, requests in flight and (open loop) requests due in the window but still waiting
    /// for a slot get `--drain-timeout` to finish.
    fn wait(&mut self, now: u64) -> Option<Duration> {
        if !self.pacer.issuing(now) {
            if self.books.in_flight == 0 && !self.pacer.backlogged(now) {
                return None;
            }
            let deadline = *self.drain_deadline.get_or_insert(now + self.drain_ns);
            return (now < deadline)
                .then(|| Duration::from_nanos(deadline - now).min(MAX_POLL_WAIT));
        }
        match self.pacer.next_due() {
            // epoll sleeps in whole milliseconds (rounded up): sleep until a millisecond before
            // the next due time, then spin, so requests leave on time.
            Some(due) if !self.ready.queue.is_empty() => {
                Some(if due <= now || due - now < SPIN_BELOW_NS {
                    Duration::ZERO
                } else {
                    Duration::from_nanos(due - now - 1_000_000).min(MAX_POLL_WAIT)
                })
            }
            // Closed loop, or nothing free: replies wake the loop.
            _ => Some(MAX_POLL_WAIT),
        }
    }

    /// One poll and the events it returned: `Some(whether there were any)`, or `None` if
    /// polling failed for good.
    fn poll_once(
        &mut self,
        poll: &mut Poll,
        events: &mut Events,
        conns: &mut [Conn],
        wait: Duration,
    ) -> Option<bool> {
        if let Err(e) = poll.poll(events, Some(wait)) {
            if e.kind() == io::ErrorKind::Interrupted {
                return Some(false);
            }
            tracing::error!(error = %e, "driver poll failed");
            return None;
        }
        for ev in events.iter() {
            let i = ev.token().0;
            if conns.get(i).is_some_and(Conn::is_connecting) {
                self.progress_connect(conns, i);
                continue;
            }
            if !conns.get(i).is_some_and(Conn::is_open) {
                continue;
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                self.read(
                    poll.registry(),
                    conns,
                    i,
                    ev.is_read_closed() || ev.is_error(),
                );
            }
            if ev.is_writable() {
                self.flush(conns, i);
            }
        }
        Some(!events.is_empty())
    }

    fn read(&mut self, registry: &Registry, conns: &mut [Conn], i: usize, to_eof: bool) {
        let books = &mut *self.books;
        let read = conns[i].read(self.clock, to_eof, &mut |now, r, k| {
            books.on_reply(now, r, k)
        });
        match read {
            Ok(0) => {}
            Ok(now) => self.fill(conns, i, now),
            Err(lost) if lost.cause == Cause::ServerClosed => {
                // The server closed it after a reply, as it said it would (HTTP `Connection:
                // close`): connect again and send what was pipelined behind that reply.
                self.books.reconnects += 1;
                if !self.books.tally.control.stopped() {
                    if let Err(e) = conns[i].reconnect(registry, self.clock.now_ns()) {
                        tracing::debug!(error = %e, "reconnect failed");
                        self.connect_failed(conns, i);
                    }
                } else {
                    let pending = conns[i].close();
                    self.books.aborted(pending);
                    self.open -= 1;
                }
            }
            Err(lost) => {
                self.books.on_lost(lost);
                self.open -= 1;
            }
        }
    }

    /// Moves a reconnecting connection on; once open, it takes requests again.
    fn progress_connect(&mut self, conns: &mut [Conn], i: usize) {
        let now = self.clock.now_ns();
        match conns[i].poll_connect(now) {
            Connecting::Pending => {}
            Connecting::Established(o) => {
                let started = conns[i].connect_started_ns();
                self.books.handshakes.opened(&o, started, now);
                conns[i].resend(now);
                self.fill(conns, i, now);
            }
            Connecting::Failed(e) => {
                tracing::debug!(error = %e, "reconnect failed");
                self.connect_failed(conns, i);
            }
            Connecting::Refused(kind) => {
                *self.books.decode_failures.entry(kind).or_default() += 1;
                self.connect_failed(conns, i);
            }
            Connecting::TlsFailed(f) => {
                self.books.handshakes.failed(f, &mut self.books.tally);
                self.lose_reconnect(conns, i);
            }
        }
    }

    /// A reconnect failed: the connection is lost with what it was to send again.
    fn connect_failed(&mut self, conns: &mut [Conn], i: usize) {
        self.books.tally.add(ErrorKind::Connect, 1);
        self.lose_reconnect(conns, i);
    }

    /// A reconnect failed (already counted by its kind): the connection is lost with what it
    /// was to send again.
    fn lose_reconnect(&mut self, conns: &mut [Conn], i: usize) {
        let pending = conns[i].close();
        self.books.aborted(pending);
        self.open -= 1;
    }

    fn flush(&mut self, conns: &mut [Conn], i: usize) {
        if let Err(lost) = conns[i].flush() {
            self.books.on_lost(lost);
            self.open -= 1;
        }
    }

    /// Gives up on requests older than the timeout, so a server that never answers cannot hold
    /// the run (or a slot) forever.
    fn expire_if_due(&mut self, conns: &mut [Conn]) {
        let now = self.clock.now_ns();
        if now < self.next_check_ns {
            return;
        }
        self.next_check_ns = now + self.check_every_ns;
        for i in 0..conns.len() {
            if conns[i].connect_overdue(now, self.connect_timeout_ns) {
                if conns[i].is_securing() {
                    let after = std::time::Duration::from_nanos(self.connect_timeout_ns);
                    let f = crate::transport::Failure::timed_out(after);
                    self.books.handshakes.failed(f, &mut self.books.tally);
                    self.lose_reconnect(conns, i);
                } else {
                    self.connect_failed(conns, i);
                }
                continue;
            }
            if !conns[i].is_open() {
                continue;
            }
            let expired = conns[i].expire(now, self.timeout_ns);
            self.books.tally.add(ErrorKind::Timeout, expired.timed_out);
            self.books.in_flight -= expired.timed_out;
            match expired.closed_aborting {
                Some(aborted) => {
                    self.books.aborted(aborted);
                    self.open -= 1;
                }
                None if expired.timed_out > 0 => self.fill(conns, i, now),
                None => {}
            }
        }
    }

    /// Settles what is left when the loop ends; returns the requests in flight at an early stop.
    fn finish(&mut self) -> u64 {
        // Decided before counting what is left: that count may itself reach --max-errors.
        let stopped_early = self.books.tally.control.stopped() || self.open == 0;
        let now = self.clock.now_ns();
        let unsent = self.pacer.abandon(now);
        self.books.tally.add(ErrorKind::Unsent, unsent);
        let left = std::mem::take(&mut self.books.in_flight);
        if stopped_early {
            left
        } else {
            // The window closed and the drain timeout passed with these still unanswered.
            self.books.tally.add(ErrorKind::DrainTimeout, left);
            0
        }
    }
}

/// Queues one due request on `conn` and books it.
#[inline]
fn send(
    conn: &mut Conn,
    next_id: &mut u64,
    books: &mut Books<'_>,
    due: super::pacer::Due,
    now: u64,
) {
    conn.send(*next_id, due.intended_ns, now);
    *next_id += 1;
    books.in_flight += 1;
    books.sent += 1;
    if let Some(lag) = due
        .lag_ns
        .filter(|_| due.intended_ns >= books.measure_start_ns)
    {
        books.recorder.record_lag(lag);
    }
}
