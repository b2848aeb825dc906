//! Acceptor threads: take connections off one listener and hand them to workers.
//!
//! Each acceptor has its own SO_REUSEPORT listener, so acceptors never contend on one accept
//! queue. Accept errors are conditions, not failures: a client that gave up before we accepted
//! (ECONNABORTED) is skipped, and running out of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
//! ENOMEM) makes the acceptor back off — 10 ms doubling to 1 s — while workers keep serving the
//! connections they have. Edge-triggered polling would not report the still-pending connections
//! again, so after a back-off the acceptor retries accept() on its own.

use std::io;
#[cfg(feature = "pooled")]
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "pooled")]
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(feature = "pooled")]
use crossbeam_channel::Sender;
use mio::net::{TcpListener, TcpStream};
#[cfg(feature = "pooled")]
use mio::Waker;
use mio::{Events, Interest, Poll, Token};

#[cfg(feature = "pooled")]
use crate::config::Balance;
use crate::stats::{bump, Counters};

const LISTENER: Token = Token(0);
/// Token of the waker that announces shutdown.
pub(crate) const WAKER: Token = Token(1);
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one accept-error warning per this long, so a storm of EMFILEs is not a storm of logs.
const WARN_EVERY: Duration = Duration::from_secs(5);
/// How long an acceptor leaves connections in the kernel's queue when it is ahead of the
/// workers at `--max-connections` (see [`Taken::Pause`]).
const PAUSE: Duration = Duration::from_millis(5);

/// What an accept loop does after handing one connection on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "pooled"), allow(dead_code))] // Pause and Stop: the pooled model's.
pub(crate) enum Taken {
    /// Accept the next.
    Go,
    /// Stop for a moment: the connections accepted but not yet placed would use descriptors
    /// the server keeps in reserve. The rest wait in the kernel's queue.
    Pause,
    /// Stop for good: the server is going away.
    Stop,
}

/// A connection for a worker, and whether it puts the server over `--max-connections`.
#[cfg(feature = "pooled")]
#[derive(Debug)]
pub(crate) struct Handoff {
    pub stream: TcpStream,
    pub over_limit: bool,
}

/// The way into one worker.
#[cfg(feature = "pooled")]
#[derive(Debug, Clone)]
pub(crate) struct WorkerLink {
    pub tx: Sender<Handoff>,
    pub waker: Arc<Waker>,
    pub load: Arc<AtomicUsize>,
}

/// Picks a worker for each new connection in O(1).
#[cfg(feature = "pooled")]
#[derive(Debug)]
pub(crate) struct Dispatch {
    pub workers: Vec<WorkerLink>,
    pub balance: Balance,
    pub next: AtomicUsize,
    pub admission: Arc<crate::limits::Admission>,
}

#[cfg(feature = "pooled")]
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

#[cfg(feature = "pooled")]
fn xorshift(s: &mut u64) -> u64 {
    let mut x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    x
}

/// The accept loop every model shares: accept until WouldBlock, set TCP_NODELAY, count, and on
/// running out of descriptors or memory back off instead of spinning or dying.
#[derive(Debug, Default)]
pub(crate) struct AcceptState {
    backoff: Option<Duration>,
    warn: WarnLimiter,
}

impl AcceptState {
    /// How long to wait before trying accept() again after an error (None: wait for an event).
    pub fn backoff(&self) -> Option<Duration> {
        self.backoff
    }

    /// Accepts every pending connection and gives each to `take`; stops early (returning false)
    /// if `take` says [`Taken::Stop`], and for a moment (a short back-off) if it says
    /// [`Taken::Pause`]. Edge-triggered polling will not report connections left pending, so
    /// callers also run this when their back-off timeout expires.
    pub fn accept_batch(
        &mut self,
        listener: &TcpListener,
        counters: &Counters,
        mut take: impl FnMut(TcpStream) -> Taken,
    ) -> bool {
        let started = Instant::now();
        let mut accepted = 0u64;
        let mut go_on = true;
        loop {
            match listener.accept() {
                Ok((stream, _peer)) => {
                    self.backoff = None;
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "TCP_NODELAY failed on an accepted socket");
                    }
                    accepted += 1;
                    match take(stream) {
                        Taken::Go => {}
                        Taken::Pause => {
                            self.backoff = Some(PAUSE);
                            break;
                        }
                        Taken::Stop => {
                            go_on = false;
                            break;
                        }
                    }
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
                    self.failed(&e, counters);
                    break;
                }
            }
        }
        if accepted > 0 {
            bump(&counters.accepted, accepted);
            // Only batches that accepted something count: an empty accept() is idle polling.
            bump(
                &counters.phase_accept_ns,
                crate::stats::ns_between(started, Instant::now()),
            );
        }
        go_on
    }

    fn failed(&mut self, e: &io::Error, counters: &Counters) {
        let resources = is_resource_exhaustion(e);
        bump(
            if resources {
                &counters.err_accept_resources
            } else {
                &counters.err_accept_other
            },
            1,
        );
        let d = self
            .backoff
            .map_or(BACKOFF_MIN, |d| (d * 2).min(BACKOFF_MAX));
        self.backoff = Some(d);
        if self.warn.ready() {
            if resources {
                tracing::warn!(error = %e, backoff_ms = d.as_millis() as u64,
                    "accept failed: out of descriptors or memory; existing connections are still served (raise ulimit -n / fs.file-max)");
            } else {
                tracing::warn!(error = %e, backoff_ms = d.as_millis() as u64, "accept failed");
            }
        }
    }
}

/// Where an acceptor thread's connections go: the one thing the models' acceptors differ in.
pub(crate) trait AcceptSink {
    /// Takes one accepted connection, and says whether to accept the next.
    fn take(&mut self, stream: TcpStream) -> Taken;
    /// Whether the sink is as far ahead of its workers as it may get: accept nothing yet.
    fn ahead(&self) -> bool {
        false
    }
    /// Called after each accept batch (the pooled model wakes its workers here, once each).
    fn batch_done(&mut self) {}
}

/// An acceptor thread's loop, shared by every model: wait for connections (or the end of a
/// back-off), accept them all into `sink`, until shutdown or the sink says stop.
pub(crate) fn run_acceptor(
    mut poll: Poll,
    mut listener: TcpListener,
    shutdown: &AtomicBool,
    counters: &Counters,
    sink: &mut impl AcceptSink,
) {
    let mut events = Events::with_capacity(16);
    if let Err(e) = poll
        .registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
    {
        tracing::error!(error = %e, "acceptor could not register its listener");
        return;
    }
    let mut state = AcceptState::default();
    while !shutdown.load(Ordering::Acquire) {
        if let Err(e) = poll.poll(&mut events, state.backoff()) {
            if e.kind() != io::ErrorKind::Interrupted {
                tracing::error!(error = %e, "acceptor poll failed");
                return;
            }
        }
        if shutdown.load(Ordering::Acquire) {
            return;
        }
        // A paused acceptor checks again before it accepts: accepting first and pausing after
        // would take one more descriptor at every check while the workers are still placing.
        if sink.ahead() {
            state.backoff = Some(PAUSE);
            continue;
        }
        let go_on = state.accept_batch(&listener, counters, |stream| sink.take(stream));
        sink.batch_done();
        if !go_on {
            return;
        }
    }
}

/// Rate-limits a repeated warning to one per [`WARN_EVERY`].
#[derive(Debug, Default)]
pub(crate) struct WarnLimiter(Option<Instant>);

impl WarnLimiter {
    /// Whether to emit the warning now.
    pub fn ready(&mut self) -> bool {
        if self.0.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            self.0 = Some(Instant::now());
            return true;
        }
        false
    }
}

#[cfg(feature = "pooled")]
pub(crate) struct Acceptor {
    pub id: usize,
    pub poll: Poll,
    pub listener: TcpListener,
    pub dispatch: Arc<Dispatch>,
    pub shutdown: Arc<AtomicBool>,
    pub counters: Arc<Counters>,
}

#[cfg(feature = "pooled")]
impl Acceptor {
    pub fn run(self) {
        let mut sink = HandOff {
            to_wake: vec![false; self.dispatch.workers.len()],
            rng: 0x9E37_79B9_7F4A_7C15_u64 ^ ((self.id as u64 + 1) << 32),
            dispatch: &self.dispatch,
        };
        run_acceptor(
            self.poll,
            self.listener,
            &self.shutdown,
            &self.counters,
            &mut sink,
        );
    }
}

/// The pooled model's sink: pick a worker in O(1), send it the connection, wake it once per batch.
#[cfg(feature = "pooled")]
struct HandOff<'a> {
    dispatch: &'a Dispatch,
    rng: u64,
    to_wake: Vec<bool>,
}

#[cfg(feature = "pooled")]
impl AcceptSink for HandOff<'_> {
    fn take(&mut self, stream: TcpStream) -> Taken {
        let w = self.dispatch.pick(&mut self.rng);
        let link = &self.dispatch.workers[w];
        link.load.fetch_add(1, Ordering::Relaxed);
        self.to_wake[w] = true;
        // Over --max-connections, the worker makes room or closes it: either way it is counted
        // there, where the connections and their idle times are.
        let over_limit = self.dispatch.admission.admit();
        let handoff = Handoff { stream, over_limit };
        // A closed channel means the worker has exited: we are shutting down.
        if link.tx.send(handoff).is_err() {
            return Taken::Stop;
        }
        if self.ahead() {
            Taken::Pause
        } else {
            Taken::Go
        }
    }

    /// Past the limit, every connection accepted holds a descriptor until its worker makes
    /// room or closes it: do not get further ahead than the reserve allows.
    fn ahead(&self) -> bool {
        let admission = &self.dispatch.admission;
        admission.open() >= admission.max() + crate::limits::ACCEPT_AHEAD
    }

    fn batch_done(&mut self) {
        for (w, flag) in self.to_wake.iter_mut().enumerate() {
            if std::mem::take(flag) {
                // One wake per worker per accept batch, not one per connection.
                if let Err(e) = self.dispatch.workers[w].waker.wake() {
                    tracing::warn!(error = %e, "could not wake a worker");
                }
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
