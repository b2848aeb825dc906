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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Poll, Waker};
use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::Running;
use crate::acceptor::{self, run_acceptor, AcceptSink, WarnLimiter};
use crate::config::ServerConfig;
use crate::conn::{Conn, Ctx, Next};
use crate::handler::Handler;
use crate::stats::{bump, ns_between, Counters, PhaseTimes, Registry};

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
    shutdown: &Arc<AtomicBool>,
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
        shutdown: shutdown.clone(),
        counters: acceptor_counters,
        conn_counters,
        handler,
        config: config.clone(),
        live: Arc::new(AtomicUsize::new(0)),
    };
    let thread = std::thread::Builder::new()
        .name("nines-acceptor-0".into())
        .spawn(move || acceptor.run(poll, listener))?;
    Ok(Running {
        threads: vec![thread],
        wakers: vec![waker],
    })
}

struct ThreadedAcceptor {
    shutdown: Arc<AtomicBool>,
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
        run_acceptor(poll, listener, &self.shutdown, &self.counters, &mut sink);
        // Connection threads see the flag within a tick; wait so the final counters include them.
        let deadline = Instant::now() + EXIT_WAIT;
        while self.live.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn spawn_connection(&self, stream: TcpStream, refusals: &mut WarnLimiter) {
        let live = self.live.load(Ordering::Acquire);
        if live >= self.config.max_threads {
            bump(&self.counters.refused_max_threads, 1);
            bump(&self.counters.closed, 1);
            if refusals.ready() {
                tracing::warn!(
                    max_threads = self.config.max_threads,
                    "refusing connections: --max-threads connection threads are running (raise --max-threads, or use the pooled model)"
                );
            }
            return; // Dropping the stream closes it.
        }
        self.live.fetch_add(1, Ordering::AcqRel);
        let conn = ConnThread {
            handler: self.handler.clone(),
            shared: self.conn_counters.clone(),
            shutdown: self.shutdown.clone(),
            live: self.live.clone(),
            write_high_water: self.config.write_high_water,
            max_frame_bytes: self.config.max_frame_bytes,
        };
        let spawned = std::thread::Builder::new()
            .name("nines-conn".into())
            .stack_size(STACK_BYTES)
            .spawn(move || conn.serve(stream));
        if let Err(e) = spawned {
            // The closure (and the stream in it) was dropped: the connection is closed.
            self.live.fetch_sub(1, Ordering::AcqRel);
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
    fn take(&mut self, stream: TcpStream) -> bool {
        self.acceptor.spawn_connection(stream, &mut self.refusals);
        true
    }
}

struct ConnThread {
    handler: Handler,
    shared: Arc<Counters>,
    shutdown: Arc<AtomicBool>,
    live: Arc<AtomicUsize>,
    write_high_water: usize,
    max_frame_bytes: usize,
}

impl ConnThread {
    fn serve(self, stream: TcpStream) {
        let local = Counters::default();
        let mut phases = PhaseTimes::default();
        let mut reply_offsets = Vec::new();
        let mut conn = Conn::new(stream);
        let mut last_publish = Instant::now();
        while !self.shutdown.load(Ordering::Acquire) {
            // Level-triggered poll(2) on our one socket; never ask for input while paused, or a
            // client that does not read its replies would make us spin.
            // A peer's FIN shows as readable (read returns 0); POLLHUP/POLLERR come regardless.
            let mut want = PollFlags::empty();
            if !conn.is_paused() {
                want |= PollFlags::POLLIN;
            }
            if conn.wants_write() {
                want |= PollFlags::POLLOUT;
            }
            let revents = {
                let fd = conn.stream().as_fd();
                let mut fds = [PollFd::new(fd, want)];
                match nix::poll::poll(&mut fds, PollTimeout::from(TICK.as_millis() as u16)) {
                    Ok(0) => None,
                    Ok(_) => fds[0].revents(),
                    Err(nix::errno::Errno::EINTR) => None,
                    Err(e) => {
                        tracing::debug!(error = %e, "poll failed on a connection");
                        bump(&local.err_io, 1);
                        break;
                    }
                }
            };
            if let Some(r) = revents {
                let woke = Instant::now();
                let mut ctx = Ctx {
                    handler: &self.handler,
                    counters: &local,
                    reply_offsets: &mut reply_offsets,
                    write_high_water: self.write_high_water,
                    max_frame_bytes: self.max_frame_bytes,
                    phases: &mut phases,
                };
                let closed = r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR);
                let next = conn.on_event(
                    r.contains(PollFlags::POLLIN),
                    r.contains(PollFlags::POLLOUT),
                    closed,
                    &mut ctx,
                );
                phases.busy_ns += ns_between(woke, Instant::now());
                phases.publish(&local);
                if next == Next::Close {
                    break;
                }
            }
            if last_publish.elapsed() >= TICK {
                local.drain_into(&self.shared);
                last_publish = Instant::now();
            }
        }
        drop(conn);
        bump(&local.closed, 1);
        phases.publish(&local);
        local.drain_into(&self.shared);
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}
