//! Acceptor threads: take connections off one listener and hand them to workers.
//!
//! Each acceptor has its own SO_REUSEPORT listener, so acceptors never contend on one accept
//! queue. Accept errors are conditions, not failures: a client that gave up before we accepted
//! (ECONNABORTED) is skipped, and running out of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
//! ENOMEM) makes the acceptor back off — 10 ms doubling to 1 s — while workers keep serving the
//! connections they have. Edge-triggered polling would not report the still-pending connections
//! again, so after a back-off the acceptor retries accept() on its own.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::config::Balance;
use crate::stats::{bump, Counters};

const LISTENER: Token = Token(0);
/// Token of the waker that announces shutdown.
pub(crate) const WAKER: Token = Token(1);
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one accept-error warning per this long, so a storm of EMFILEs is not a storm of logs.
const WARN_EVERY: Duration = Duration::from_secs(5);

/// The way into one worker.
#[derive(Debug, Clone)]
pub(crate) struct WorkerLink {
    pub tx: Sender<TcpStream>,
    pub waker: Arc<Waker>,
    pub load: Arc<AtomicUsize>,
}

/// Picks a worker for each new connection in O(1).
#[derive(Debug)]
pub(crate) struct Dispatch {
    pub workers: Vec<WorkerLink>,
    pub balance: Balance,
    pub next: AtomicUsize,
}

impl Dispatch {
    fn pick(&self, rng: &mut u64) -> usize {
        let n = self.workers.len();
        match self.balance {
            Balance::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed) % n,
            Balance::LeastConnections => {
                let a = (xorshift(rng) % n as u64) as usize;
                let b = (xorshift(rng) % n as u64) as usize;
                let la = self.workers[a].load.load(Ordering::Relaxed);
                let lb = self.workers[b].load.load(Ordering::Relaxed);
                if lb < la {
                    b
                } else {
                    a
                }
            }
        }
    }
}

fn xorshift(s: &mut u64) -> u64 {
    let mut x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    x
}

pub(crate) struct Acceptor {
    pub id: usize,
    pub poll: Poll,
    pub listener: TcpListener,
    pub dispatch: Arc<Dispatch>,
    pub shutdown: Arc<AtomicBool>,
    pub counters: Arc<Counters>,
}

impl Acceptor {
    pub fn run(mut self) {
        let mut events = Events::with_capacity(16);
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut self.listener, LISTENER, Interest::READABLE)
        {
            tracing::error!(error = %e, "acceptor could not register its listener");
            return;
        }
        let mut rng = 0x9E37_79B9_7F4A_7C15_u64 ^ ((self.id as u64 + 1) << 32);
        let mut to_wake = vec![false; self.dispatch.workers.len()];
        let mut backoff: Option<Duration> = None;
        let mut last_warning: Option<Instant> = None;
        loop {
            if let Err(e) = self.poll.poll(&mut events, backoff) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "acceptor poll failed");
                    return;
                }
            }
            if self.shutdown.load(Ordering::Acquire) {
                return;
            }
            // Run the accept loop whether woken by the listener or by the back-off timeout.
            let started = Instant::now();
            let accepted_before = self.counters.accepted.load(Ordering::Relaxed);
            loop {
                match self.listener.accept() {
                    Ok((stream, _peer)) => {
                        backoff = None;
                        if let Err(e) = stream.set_nodelay(true) {
                            tracing::debug!(error = %e, "TCP_NODELAY failed on an accepted socket");
                        }
                        bump(&self.counters.accepted, 1);
                        let w = self.dispatch.pick(&mut rng);
                        let link = &self.dispatch.workers[w];
                        link.load.fetch_add(1, Ordering::Relaxed);
                        if link.tx.send(stream).is_err() {
                            // The worker has exited: we are shutting down. The stream is dropped.
                            return;
                        }
                        to_wake[w] = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                        ) =>
                    {
                        continue
                    }
                    Err(e) => {
                        let resources = is_resource_exhaustion(&e);
                        bump(
                            if resources {
                                &self.counters.err_accept_resources
                            } else {
                                &self.counters.err_accept_other
                            },
                            1,
                        );
                        let d = backoff.map_or(BACKOFF_MIN, |d| (d * 2).min(BACKOFF_MAX));
                        backoff = Some(d);
                        if last_warning.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                            last_warning = Some(Instant::now());
                            if resources {
                                tracing::warn!(error = %e, backoff_ms = d.as_millis() as u64,
                                    "accept failed: out of descriptors or memory; existing connections are still served (raise ulimit -n / fs.file-max)");
                            } else {
                                tracing::warn!(error = %e, backoff_ms = d.as_millis() as u64, "accept failed");
                            }
                        }
                        break;
                    }
                }
            }
            for (w, flag) in to_wake.iter_mut().enumerate() {
                if std::mem::take(flag) {
                    // One wake per worker per accept batch, not one per connection.
                    if let Err(e) = self.dispatch.workers[w].waker.wake() {
                        tracing::warn!(error = %e, "could not wake a worker");
                    }
                }
            }
            // Only batches that accepted something count: an empty accept() is idle polling.
            if self.counters.accepted.load(Ordering::Relaxed) != accepted_before {
                bump(
                    &self.counters.phase_accept_ns,
                    crate::stats::ns_between(started, Instant::now()),
                );
            }
        }
    }
}

fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_errno::EMFILE | libc_errno::ENFILE | libc_errno::ENOBUFS | libc_errno::ENOMEM)
    )
}

/// The errno values we act on, without pulling in libc for four constants.
mod libc_errno {
    pub const EMFILE: i32 = nix::errno::Errno::EMFILE as i32;
    pub const ENFILE: i32 = nix::errno::Errno::ENFILE as i32;
    pub const ENOBUFS: i32 = nix::errno::Errno::ENOBUFS as i32;
    pub const ENOMEM: i32 = nix::errno::Errno::ENOMEM as i32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_errors_are_recognised() {
        assert!(is_resource_exhaustion(&io::Error::from_raw_os_error(
            libc_errno::EMFILE
        )));
        assert!(is_resource_exhaustion(&io::Error::from_raw_os_error(
            libc_errno::ENFILE
        )));
        assert!(!is_resource_exhaustion(&io::Error::from_raw_os_error(
            nix::errno::Errno::EINVAL as i32
        )));
    }
}
