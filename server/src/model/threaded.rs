//! The thread-per-connection model: one acceptor, one OS thread per connection.
//!
//! Each connection thread runs the very same `Conn` state machine and `Handler` as a pooled
//! worker; instead of sharing an epoll set it waits on its own socket with poll(2), so the
//! model differs from the pooled one only in scheduling, which is what a comparison between them
//! should measure. Threads are created per connection and end with it; `max_threads` bounds
//! them, and a connection past the bound is closed at once and counted (`refused_max_threads`)
//! with a warning, never left waiting silently.
//!
//! Counters: a connection thread accumulates in its own block and drains it into one shared,
//! registered block every 100 ms and when it ends, so thousands of threads do not each need a
//! registered block or contend on one per request.

use std::io;
use std::net::TcpListener as StdListener;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Poll, Waker};
use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::{Running, Shared};
use crate::acceptor::{self, run_acceptor, AcceptSink, Taken, WarnLimiter};
use crate::config::ServerConfig;
use crate::conn::{Conn, Ctx};
use crate::handler::Handler;
use crate::limits::ConnLimits;
use crate::outcome::Expiry;
use crate::sock::Sock;
use crate::stats::{bump, ns_between, Counters, PhaseTimes, Registry};
use crate::transport::Transport;
use crate::turn::{Next, Readiness};

/// Stack of a connection thread: enough for the handler, small enough for 10,000 threads.
const STACK_BYTES: usize = 256 * 1024;
/// How often a connection thread looks at the shutdown flag and publishes its counters.
const TICK: Duration = Duration::from_millis(100);
/// How long shutdown waits for connection threads to notice and exit.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// Starts the acceptor on the first listener (this model has exactly one acceptor).
pub(crate) fn start(
    config: &ServerConfig,
    listeners: Vec<StdListener>,
    registry: &mut Registry,
    shared: &Shared,
) -> io::Result<Running> {
    let listener = listeners
        .into_iter()
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no listener to serve"))?;
    listener.set_nonblocking(true)?;
    let acceptor_counters = registry.register();
    let conn_counters = registry.register();
    let handler = Handler::new(config, registry.clone());
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), acceptor::WAKER)?);
    let listener = TcpListener::from_std(listener);
    let acceptor = ThreadedAcceptor {
        shared: shared.clone(),
        counters: acceptor_counters,
        conn_counters,
        handler,
        config: config.clone(),
        live: Arc::new(AtomicUsize::new(0)),
    };
    let thread = std::thread::Builder::new()
        .name(format!("{}-0", nines_common::cpu::ACCEPTOR_THREAD))
        .spawn(move || acceptor.run(poll, listener))?;
    Ok(Running {
        threads: vec![thread],
        wakers: vec![waker],
    })
}

struct ThreadedAcceptor {
    shared: Shared,
    counters: Arc<Counters>,
    conn_counters: Arc<Counters>,
    handler: Handler,
    config: ServerConfig,
    live: Arc<AtomicUsize>,
}

impl ThreadedAcceptor {
    fn run(self, poll: Poll, listener: TcpListener) {
        let mut sink = Spawner {
            acceptor: &self,
            refusals: WarnLimiter::default(),
        };
        run_acceptor(
            poll,
            listener,
            &self.shared.shutdown,
            &self.counters,
            &mut sink,
        );
        // Connection threads see the flag within a tick; wait so the final counters include them.
        let deadline = Instant::now() + EXIT_WAIT;
        while self.live.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn spawn_connection(&self, stream: TcpStream, refusals: &mut WarnLimiter) {
        let over_connections = self.shared.admission.admit();
        let over_threads = self.live.load(Ordering::Acquire) >= self.config.max_threads;
        if over_connections || over_threads {
            // This model has no event loop to find an idle connection in: past either limit
            // the new connection is closed (the pooled model closes the longest-idle instead).
            let counter = if over_threads {
                &self.counters.refused_max_threads
            } else {
                &self.counters.refused_max_connections
            };
            bump(counter, 1);
            bump(&self.counters.closed, 1);
            self.shared.admission.release();
            if refusals.ready() {
                tracing::warn!(
                    max_threads = self.config.max_threads,
                    max_connections = self.shared.admission.max(),
                    "refusing connections: --max-threads or --max-connections reached (raise them, or use the pooled model)"
                );
            }
            return; // Dropping the stream closes it.
        }
        self.live.fetch_add(1, Ordering::AcqRel);
        let conn = ConnThread {
            handler: self.handler.clone(),
            counters: self.conn_counters.clone(),
            shared: self.shared.clone(),
            live: self.live.clone(),
            limits: ConnLimits::new(&self.config),
            tls: self.config.tls.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(nines_common::cpu::CONN_THREAD.into())
            .stack_size(STACK_BYTES)
            .spawn(move || conn.serve(stream));
        if let Err(e) = spawned {
            // The closure (and the stream in it) was dropped: the connection is closed.
            self.live.fetch_sub(1, Ordering::AcqRel);
            self.shared.admission.release();
            bump(&self.counters.refused_max_threads, 1);
            bump(&self.counters.closed, 1);
            if refusals.ready() {
                tracing::warn!(error = %e, "cannot create a connection thread; refusing the connection");
            }
        }
    }
}

/// This model's sink: one thread per accepted connection, bounded by --max-threads.
struct Spawner<'a> {
    acceptor: &'a ThreadedAcceptor,
    refusals: WarnLimiter,
}

impl AcceptSink for Spawner<'_> {
    fn take(&mut self, stream: TcpStream) -> Taken {
        self.acceptor.spawn_connection(stream, &mut self.refusals);
        Taken::Go
    }
}

struct ConnThread {
    handler: Handler,
    counters: Arc<Counters>,
    shared: Shared,
    live: Arc<AtomicUsize>,
    limits: ConnLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl ConnThread {
    fn serve(self, stream: TcpStream) {
        let local = Counters::default();
        let stream = match Transport::new(Sock::new(stream), self.tls.as_ref()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "could not start TLS on a connection; closing it");
                bump(&local.err_tls_handshake, 1);
                self.finish(&local, &mut PhaseTimes::default());
                return;
            }
        };
        let mut phases = PhaseTimes::default();
        let mut reply_offsets = Vec::new();
        let mut conn = Conn::new(stream, self.shared.budget.clone(), Instant::now());
        let mut last_publish = Instant::now();
        let mut next = Next::Keep;
        while !self.shared.shutdown.load(Ordering::Acquire) {
            let event = if next == Next::Yield {
                // It yielded with work left: carry on without waiting (the kernel schedules the
                // other connections' threads in between).
                None
            } else {
                match wait(&conn) {
                    Ok(r) => r,
                    Err(()) => {
                        bump(&local.err_io, 1);
                        break;
                    }
                }
            };
            let woke = Instant::now();
            let mut ctx = Ctx {
                handler: &self.handler,
                counters: &local,
                reply_offsets: &mut reply_offsets,
                limits: &self.limits,
                phases: &mut phases,
            };
            next = match (next, event) {
                (Next::Yield, _) => conn.resume(&mut ctx),
                (Next::Wait, _) if self.shared.budget.room() >= conn.needs() => {
                    conn.resume(&mut ctx)
                }
                (Next::Wait, _) => Next::Wait,
                (_, Some(ev)) => conn.on_event(ev, &mut ctx),
                (_, None) => Next::Keep,
            };
            phases.busy_ns += ns_between(woke, Instant::now());
            phases.publish(&local);
            if next == Next::Yield {
                bump(&local.turns_yielded, 1);
            }
            if next == Next::Close {
                break;
            }
            let over = self.shared.budget.under_pressure() && conn.over_share(woke);
            if let Some(why) = conn
                .expired(woke, &self.limits)
                .or(over.then_some(Expiry::OverBudget))
            {
                local.count_expiry(why);
                break;
            }
            if last_publish.elapsed() >= TICK {
                local.drain_into(&self.counters);
                last_publish = Instant::now();
            }
        }
        drop(conn);
        self.finish(&local, &mut phases);
    }

    /// Counts the connection closed and hands its counters and its place back.
    fn finish(&self, local: &Counters, phases: &mut PhaseTimes) {
        bump(&local.closed, 1);
        phases.publish(local);
        local.drain_into(&self.counters);
        self.shared.admission.release();
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Waits up to a tick on the connection's one socket (level-triggered poll(2)); `Ok(None)` when
/// the tick passed with nothing to do. Input is asked for only while the connection takes it, or
/// a client that does not read its replies would make this spin. A peer's FIN shows as readable
/// (read returns 0); POLLHUP/POLLERR come regardless.
fn wait(conn: &Conn<Transport<Sock>>) -> Result<Option<Readiness>, ()> {
    let mut want = PollFlags::empty();
    if conn.wants_read() {
        want |= PollFlags::POLLIN;
    }
    if conn.wants_write() {
        want |= PollFlags::POLLOUT;
    }
    let fd = conn.stream().as_fd();
    let mut fds = [PollFd::new(fd, want)];
    match nix::poll::poll(&mut fds, PollTimeout::from(TICK.as_millis() as u16)) {
        Ok(0) | Err(nix::errno::Errno::EINTR) => Ok(None),
        Ok(_) => Ok(fds[0].revents().map(|r| Readiness {
            readable: r.contains(PollFlags::POLLIN),
            writable: r.contains(PollFlags::POLLOUT),
            read_closed: r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR),
        })),
        Err(e) => {
            tracing::debug!(error = %e, "poll failed on a connection");
            Err(())
        }
    }
}
