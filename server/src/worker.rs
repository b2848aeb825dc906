//! One pooled worker: a mio event loop that owns its connections.
//!
//! The loop reads like the design: poll → take hand-offs from the acceptors → for each ready
//! connection read, handle, write → give connections that yielded their next turn → close the
//! ones past a timeout. Connections live in a slab indexed by their token, so an event finds its
//! connection with one array index. Sockets are registered once for both readable and writable
//! (edge-triggered), so a partial write needs no extra epoll_ctl: the kernel reports writability
//! when the send buffer drains.
//!
//! Fairness: a connection gets a bounded turn (see `limits`); one that yields with work left
//! goes to the back of the run queue, and while the queue is not empty the worker polls without
//! sleeping, so every connection with work gets a turn in order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::acceptor::{AcceptState, Handoff, Taken};
use crate::conn::{Conn, Ctx};
use crate::handler::Handler;
use crate::limits::{Admission, BufferBudget, ConnLimits};
use crate::outcome::Expiry;
use crate::sock::Sock;
use crate::stats::{bump, ns_between, Counters, PhaseTimes};
use crate::transport::Transport;
use crate::turn::{Next, Queued, Readiness};

/// Token of the waker that announces hand-offs and shutdown.
pub(crate) const WAKER: Token = Token(usize::MAX);
/// Token of the worker's own listener (`--acceptors 0`).
const LISTENER: Token = Token(usize::MAX - 1);
const EVENTS_CAPACITY: usize = 1024;
/// Longest sleep while connections wait for budget room another worker may free.
const WAITING_POLL: Duration = Duration::from_millis(20);

pub(crate) struct Worker {
    pub poll: Poll,
    pub incoming: Receiver<Handoff>,
    pub shutdown: Arc<AtomicBool>,
    pub handler: Handler,
    pub counters: Arc<Counters>,
    /// Open connections, read by the least-connections balancer.
    pub load: Arc<AtomicUsize>,
    pub limits: ConnLimits,
    pub budget: Arc<BufferBudget>,
    pub admission: Arc<Admission>,
    /// Its own SO_REUSEPORT listener when workers accept for themselves (`--acceptors 0`).
    pub listener: Option<mio::net::TcpListener>,
    /// TLS on every connection, if the server has it.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// What the loop keeps between iterations.
#[derive(Default)]
struct State {
    conns: Slab<Conn<Transport<Sock>>>,
    /// Connections that yielded with work left, in turn.
    runnable: VecDeque<usize>,
    /// Connections whose next reply waits for budget room.
    waiting: Vec<usize>,
    reply_offsets: Vec<usize>,
    phases: PhaseTimes,
    accept: AcceptState,
    next_sweep: Option<Instant>,
    expired: Vec<(usize, Expiry)>,
}

impl Worker {
    pub fn run(mut self) {
        bump(&self.counters.workers, 1);
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let mut st = State::default();
        if let Some(l) = self.listener.as_mut() {
            if let Err(e) = self
                .poll
                .registry()
                .register(l, LISTENER, Interest::READABLE)
            {
                tracing::error!(error = %e, "worker could not register its listener");
                return;
            }
        }
        loop {
            let timeout = self.poll_timeout(&st);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(error = %e, "worker poll failed; closing its connections");
                break;
            }
            let woke = Instant::now();
            // Connections that yield while handling this pass's events wait for the next pass:
            // one turn per connection per pass, whether it came from an event or the queue.
            let queued_before = st.runnable.len();
            if st.accept.backoff().is_some() {
                // Retry after an accept error: the pending connections raise no new edge.
                self.accept_own(&mut st);
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => self.take_handoffs(&mut st),
                    LISTENER => self.accept_own(&mut st),
                    Token(key) => {
                        let ev = Readiness {
                            readable: event.is_readable(),
                            writable: event.is_writable(),
                            read_closed: event.is_read_closed() || event.is_error(),
                        };
                        self.turn(&mut st, key, Some(ev));
                    }
                }
            }
            self.run_queue(&mut st, queued_before);
            self.wake_waiting(&mut st);
            self.sweep(&mut st, woke);
            st.phases.busy_ns += ns_between(woke, Instant::now());
            st.phases.publish(&self.counters);
            if self.shutdown.load(Ordering::Acquire) {
                break;
            }
        }
        self.close_all(st);
    }

    /// Sleep until an event, a back-off retry or the next sweep; not at all while connections
    /// wait for their turn.
    fn poll_timeout(&self, st: &State) -> Option<Duration> {
        if !st.runnable.is_empty() {
            return Some(Duration::ZERO);
        }
        let sweep = st
            .next_sweep
            .map(|t| t.saturating_duration_since(Instant::now()));
        let waiting = (!st.waiting.is_empty()).then_some(WAITING_POLL);
        [st.accept.backoff(), sweep, waiting]
            .into_iter()
            .flatten()
            .min()
    }

    /// Gives a turn to the connections waiting for budget room, if there is room for them.
    fn wake_waiting(&mut self, st: &mut State) {
        if st.waiting.is_empty() {
            return;
        }
        let room = self.budget.room();
        let State {
            waiting,
            runnable,
            conns,
            ..
        } = st;
        waiting.retain(|&key| match conns.get_mut(key) {
            Some(c) if c.needs() <= room => {
                c.queued = Queued::Runnable;
                runnable.push_back(key);
                false
            }
            Some(_) => true,
            None => false,
        });
    }

    /// One turn for connection `key`: an event, or (`None`) its place in the run queue.
    fn turn(&mut self, st: &mut State, key: usize, ev: Option<Readiness>) {
        let Some(conn) = st.conns.get_mut(key) else {
            return; // A spurious event for a connection already closed.
        };
        let mut ctx = Ctx {
            handler: &self.handler,
            counters: &self.counters,
            reply_offsets: &mut st.reply_offsets,
            limits: &self.limits,
            phases: &mut st.phases,
        };
        let next = match ev {
            Some(ev) if conn.queued == Queued::Runnable => conn.on_event_queued(ev, &mut ctx),
            Some(ev) => conn.on_event(ev, &mut ctx),
            None => conn.resume(&mut ctx),
        };
        match next {
            Next::Keep => {}
            Next::Yield => {
                bump(&self.counters.turns_yielded, 1);
                if conn.queued == Queued::No {
                    conn.queued = Queued::Runnable;
                    st.runnable.push_back(key);
                }
            }
            Next::Wait => {
                if conn.queued == Queued::No {
                    conn.queued = Queued::Waiting;
                    st.waiting.push(key);
                }
            }
            Next::Close => self.close(st, key),
        }
    }

    /// Gives the first `n` connections in the run queue (those queued in earlier passes) one
    /// more turn each.
    fn run_queue(&mut self, st: &mut State, n: usize) {
        for _ in 0..n {
            let Some(key) = st.runnable.pop_front() else {
                break;
            };
            if let Some(conn) = st.conns.get_mut(key) {
                conn.queued = Queued::No;
                self.turn(st, key, None);
            }
        }
    }

    /// Closes the connections past a timeout, a few times per shortest timeout; under budget
    /// pressure, also those far over their share whose clients are not reading.
    fn sweep(&mut self, st: &mut State, now: Instant) {
        let every = self.limits.sweep_every();
        if st.next_sweep.is_some_and(|t| now < t) {
            return;
        }
        st.next_sweep = Some(now + every);
        let mut expired = std::mem::take(&mut st.expired);
        let pressure = self.budget.under_pressure();
        expired.extend(st.conns.iter().filter_map(|(key, c)| {
            let why = c.expired(now, &self.limits);
            let why = why.or_else(|| (pressure && c.over_share(now)).then_some(Expiry::OverBudget));
            why.map(|why| (key, why))
        }));
        for &(key, why) in &expired {
            self.counters.count_expiry(why);
            self.close(st, key);
        }
        expired.clear();
        st.expired = expired;
    }

    /// Accepts on the worker's own listener straight into its slab (no hand-off).
    fn accept_own(&mut self, st: &mut State) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        let counters = self.counters.clone();
        let mut accept = std::mem::take(&mut st.accept);
        accept.accept_batch(&listener, &counters, |stream| {
            let over_limit = self.admission.admit();
            self.load.fetch_add(1, Ordering::Relaxed);
            self.adopt(st, Handoff { stream, over_limit });
            Taken::Go
        });
        st.accept = accept;
        self.listener = Some(listener);
    }

    fn take_handoffs(&mut self, st: &mut State) {
        while let Ok(h) = self.incoming.try_recv() {
            self.adopt(st, h);
        }
    }

    /// Registers a new connection in the slab and the poll — first, at `--max-connections`,
    /// closing the longest-idle connection to make room, or else the new one.
    fn adopt(&mut self, st: &mut State, h: Handoff) {
        let now = Instant::now();
        if h.over_limit && !self.make_room(st, now) {
            bump(&self.counters.refused_max_connections, 1);
            self.closed_one();
            return; // Dropping the stream closes it.
        }
        let stream = match Transport::new(Sock::new(h.stream), self.tls.as_ref()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "could not start TLS on a connection; closing it");
                bump(&self.counters.err_tls_handshake, 1);
                self.closed_one();
                return;
            }
        };
        let entry = st.conns.vacant_entry();
        let token = Token(entry.key());
        let conn = entry.insert(Conn::new(stream, self.budget.clone(), now));
        let registered = self.poll.registry().register(
            conn.stream_mut(),
            token,
            Interest::READABLE | Interest::WRITABLE,
        );
        if let Err(e) = registered {
            tracing::warn!(error = %e, "could not register a connection; closing it");
            bump(&self.counters.err_io, 1);
            self.close(st, token.0);
        }
    }

    /// Closes this worker's longest-idle connection, if one has been idle long enough; true
    /// if it did. The scan is linear, and runs only when the server is at its limit.
    fn make_room(&mut self, st: &mut State, now: Instant) -> bool {
        let victim = st
            .conns
            .iter()
            .filter_map(|(key, c)| c.evictable_for(now).map(|idle| (idle, key)))
            .max();
        match victim {
            Some((_, key)) => {
                bump(&self.counters.evicted_idle, 1);
                self.close(st, key);
                true
            }
            None => false,
        }
    }

    fn close(&mut self, st: &mut State, key: usize) {
        if st.conns.try_remove(key).is_some() {
            // Dropping the stream closes the fd, which also removes it from the epoll set.
            self.closed_one();
        }
    }

    fn closed_one(&self) {
        bump(&self.counters.closed, 1);
        self.load.fetch_sub(1, Ordering::Relaxed);
        self.admission.release();
    }

    fn close_all(&mut self, st: State) {
        let open = st.conns.len();
        drop(st);
        for _ in 0..open {
            self.closed_one();
        }
        // Connections handed off after the last poll are closed too, and counted.
        while self.incoming.try_recv().is_ok() {
            self.closed_one();
        }
    }
}
