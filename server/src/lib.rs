//! nines-server: a TCP server built to be measured.
//!
//! It answers the nines protocol (echo, CPU work, sourcing bytes, counters) or plain byte echo,
//! and is tuned the way a hand-written epoll server in C is: one event loop per worker thread,
//! per-connection buffers reused for the connection's life, every complete pipelined request in a
//! read handled before one write, no locks or allocation per request, and counters that cost a
//! store per batch. Bad input closes one connection, never the process.
//!
//! The library takes already-bound listeners and returns a handle, so the `nines-server` binary,
//! the driver's embedded server (`nines bench` with no target), `nines node` and the tests all
//! run the very same code:
//!
//! ```no_run
//! use nines_server::{listener, Server, ServerConfig};
//! let listeners = listener::bind("127.0.0.1:0".parse().unwrap(), 1, &Default::default()).unwrap();
//! let server = Server::start(ServerConfig::default(), listeners).unwrap();
//! println!("serving on {}", server.local_addr());
//! let counters = server.shutdown();
//! println!("{counters}");
//! ```
//!
//! Modules, in layers from the leaves up (no module imports one above it; `scripts/layers.py`
//! checks): [`config`] (every setting, default and bound), `turn` (what one call to a protocol
//! may do and did), `outcome` (why a connection is closed) and [`utf8`] (UTF-8 checked a piece at
//! a time) at the bottom; then [`limits`]
//! (timeouts, the reply budget, admission), [`listener`] (socket options), [`stats`] (lock-free
//! counters), [`held`] (what the process holds, read off the event loops), [`tls`]
//! (certificate, key and the TLS choices, read once), `sock` (an accepted socket, read and
//! written with direct system calls), `transport` (plain TCP or TLS over it, one `Read + Write`)
//! and the protocols ([`http`], then [`ws`]);
//! [`handler`] (request → reply, shared by all models); `acceptor` (the accept loop) and `conn`
//! (one connection's buffers and I/O, over its transport);
//! `worker` (one mio loop); `model` (the pooled and thread-per-connection schedulers) on top.
#![deny(missing_docs, missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(not(any(feature = "pooled", feature = "thread-per-connection")))]
compile_error!("nines-server needs a server model: enable `pooled` and/or `thread-per-connection`");

mod acceptor;
pub mod config;
mod conn;
pub mod handler;
pub mod held;
pub mod http;
pub mod limits;
pub mod listener;
mod model;
mod outcome;
mod sock;
pub mod stats;
pub mod tls;
mod transport;
mod turn;
pub mod utf8;
#[cfg(feature = "pooled")]
mod worker;
pub mod ws;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use config::{Balance, Model, Protocol, ServerConfig};
pub use stats::Snapshot;

/// Entry point for starting servers.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// Starts the server on already-bound listeners (one acceptor per listener).
    ///
    /// # Errors
    /// If `listeners` is empty, or a thread, poll or waker cannot be created.
    pub fn start(config: ServerConfig, listeners: Vec<TcpListener>) -> io::Result<ServerHandle> {
        let Some(first) = listeners.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no listener to serve",
            ));
        };
        let local_addr = first.local_addr()?;
        let mut registry = stats::Registry::default();
        let nofile = nines_common::sys::nofile().map_or(1024, |l| l.soft);
        let admission = Arc::new(limits::Admission::new(limits::max_connections(
            &config, nofile,
        )));
        let shared = model::Shared {
            shutdown: Arc::new(AtomicBool::new(false)),
            budget: Arc::new(limits::BufferBudget::new(
                config.max_buffered,
                admission.clone(),
            )),
            admission,
        };
        let running = match config.model {
            #[cfg(feature = "pooled")]
            config::Model::Pooled => {
                model::pooled::start(&config, listeners, &mut registry, &shared)?
            }
            #[cfg(feature = "thread-per-connection")]
            config::Model::ThreadPerConnection => {
                model::threaded::start(&config, listeners, &mut registry, &shared)?
            }
            #[allow(unreachable_patterns)]
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("this build has no {other} model; rebuild with `--features {other}`"),
                ))
            }
        };
        Ok(ServerHandle {
            local_addr,
            shared,
            running,
            registry,
        })
    }

    /// Binds `config.acceptors` listeners on `addr` and starts the server on them.
    ///
    /// # Errors
    /// If the address cannot be bound (in use, not local, no permission) or [`Server::start`] fails.
    pub fn bind(
        addr: SocketAddr,
        config: ServerConfig,
        opts: &listener::ListenOptions,
    ) -> io::Result<ServerHandle> {
        let listeners = listener::bind(addr, listener_count(&config), opts)?;
        Server::start(config, listeners)
    }
}

/// Listeners a configuration needs: one per acceptor, one per worker when workers accept for
/// themselves (`acceptors == 0`), exactly one for thread-per-connection.
pub fn listener_count(config: &ServerConfig) -> usize {
    match config.model {
        config::Model::ThreadPerConnection => 1,
        config::Model::Pooled if config.acceptors == 0 => config.workers.max(1),
        config::Model::Pooled => config.acceptors,
    }
}

/// A running server. Dropping it shuts the server down; [`ServerHandle::shutdown`] also returns
/// the final counters.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    shared: model::Shared,
    running: model::Running,
    registry: stats::Registry,
}

impl ServerHandle {
    /// The address the server listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The counters now.
    pub fn stats(&self) -> Snapshot {
        self.registry.snapshot()
    }

    /// Most connections it holds at once (`--max-connections`, or what the descriptor limit
    /// leaves room for).
    pub fn max_connections(&self) -> usize {
        self.shared.admission.max()
    }

    /// Unsent reply bytes its connections hold now.
    pub fn buffered_bytes(&self) -> usize {
        self.shared.budget.used()
    }

    /// Stops accepting, closes every connection, waits for all threads, returns the counters.
    pub fn shutdown(mut self) -> Snapshot {
        self.stop();
        self.registry.snapshot()
    }

    fn stop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        for w in &self.running.wakers {
            // A failed wake means the thread's poll is gone already.
            let _ = w.wake();
        }
        for t in self.running.threads.drain(..) {
            if t.join().is_err() {
                tracing::error!("a server thread panicked");
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
