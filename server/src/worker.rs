//! One pooled worker: a mio event loop that owns its connections.
//!
//! The loop reads like the design: poll → take hand-offs from the acceptors → for each ready
//! connection read, handle, write → drop the ones that are done. Connections live in a slab
//! indexed by their token, so an event finds its connection with one array index. Sockets are
//! registered once for both readable and writable (edge-triggered), so a partial write needs no
//! extra epoll_ctl: the kernel reports writability when the send buffer drains.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::Receiver;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::acceptor::AcceptState;
use crate::config::ServerConfig;
use crate::conn::{Conn, Ctx, Next};
use crate::handler::Handler;
use crate::stats::{bump, ns_between, Counters, PhaseTimes};

/// Token of the waker that announces hand-offs and shutdown.
pub(crate) const WAKER: Token = Token(usize::MAX);
/// Token of the worker's own listener (`--acceptors 0`).
const LISTENER: Token = Token(usize::MAX - 1);
const EVENTS_CAPACITY: usize = 1024;

pub(crate) struct Worker {
    pub poll: Poll,
    pub incoming: Receiver<TcpStream>,
    pub shutdown: Arc<AtomicBool>,
    pub handler: Handler,
    pub counters: Arc<Counters>,
    /// Open connections, read by the least-connections balancer.
    pub load: Arc<AtomicUsize>,
    pub config: ServerConfig,
    /// Its own SO_REUSEPORT listener when workers accept for themselves (`--acceptors 0`).
    pub listener: Option<mio::net::TcpListener>,
}

impl Worker {
    pub fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let mut conns: Slab<Conn> = Slab::new();
        let mut reply_offsets = Vec::new();
        let mut phases = PhaseTimes::default();
        let mut accept = AcceptState::default();
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
            if let Err(e) = self.poll.poll(&mut events, accept.backoff()) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(error = %e, "worker poll failed; closing its connections");
                break;
            }
            let woke = std::time::Instant::now();
            if accept.backoff().is_some() {
                // Retry after an accept error: the pending connections raise no new edge.
                self.accept_own(&mut accept, &mut conns);
            }
            for event in events.iter() {
                if event.token() == WAKER {
                    self.take_handoffs(&mut conns);
                    continue;
                }
                if event.token() == LISTENER {
                    self.accept_own(&mut accept, &mut conns);
                    continue;
                }
                let key = event.token().0;
                let Some(conn) = conns.get_mut(key) else {
                    continue; // A spurious event for a connection already closed.
                };
                let mut ctx = Ctx {
                    handler: &self.handler,
                    counters: &self.counters,
                    reply_offsets: &mut reply_offsets,
                    write_high_water: self.config.write_high_water,
                    max_frame_bytes: self.config.max_frame_bytes,
                    phases: &mut phases,
                };
                let next = conn.on_event(
                    event.is_readable(),
                    event.is_writable(),
                    event.is_read_closed() || event.is_error(),
                    &mut ctx,
                );
                if next == Next::Close {
                    // Dropping the stream closes the fd, which also removes it from the epoll set.
                    conns.remove(key);
                    self.closed_one();
                }
            }
            phases.busy_ns += ns_between(woke, std::time::Instant::now());
            phases.publish(&self.counters);
            if self.shutdown.load(Ordering::Acquire) {
                break;
            }
        }
        let open = conns.len();
        drop(conns);
        for _ in 0..open {
            self.closed_one();
        }
        // Connections handed off after the last poll are closed too, and counted.
        while self.incoming.try_recv().is_ok() {
            self.closed_one();
        }
    }

    /// Accepts on the worker's own listener straight into its slab (no hand-off).
    fn accept_own(&mut self, accept: &mut AcceptState, conns: &mut Slab<Conn>) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        let counters = self.counters.clone();
        accept.accept_batch(&listener, &counters, |stream| {
            self.load.fetch_add(1, Ordering::Relaxed);
            self.adopt(stream, conns);
            true
        });
        self.listener = Some(listener);
    }

    fn take_handoffs(&mut self, conns: &mut Slab<Conn>) {
        while let Ok(stream) = self.incoming.try_recv() {
            self.adopt(stream, conns);
        }
    }

    /// Registers a new connection in the slab and the poll.
    fn adopt(&mut self, stream: TcpStream, conns: &mut Slab<Conn>) {
        {
            let entry = conns.vacant_entry();
            let token = Token(entry.key());
            let conn = entry.insert(Conn::new(stream));
            if let Err(e) = self.poll.registry().register(
                conn.stream_mut(),
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                tracing::warn!(error = %e, "could not register a connection; closing it");
                conns.remove(token.0);
                bump(&self.counters.err_io, 1);
                self.closed_one();
            }
        }
    }

    fn closed_one(&self) {
        bump(&self.counters.closed, 1);
        self.load.fetch_sub(1, Ordering::Relaxed);
    }
}
