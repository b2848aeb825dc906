//! One driver thread: connects its share of the connections, waits for every other thread (so
//! connection set-up is never inside the measurement), then applies load in one mio event loop
//! until the pacer's window closes and the replies in flight are in.
//!
//! The parts, each in its own file:
//! - [`conn`]: one connection (connecting, open or closed), its buffers, its requests in flight;
//! - `pacer`: when a request is due, closed or open loop (the only place that knows which);
//! - `connect`: the connect phase; `load`: the event loop that ties them together;
//! - [`intervals`]: shipping each second's histogram to the watching thread;
//! - [`control`]: what threads share (stop flag, error count, timeline).
//!
//! Bytes are the codec's business, timing the run clock's and the pacer's, recording the
//! [`Recorder`]'s; every error of every kind is counted through one `Tally` (tally.rs), the
//! rest of a thread's accounting kept in its [`Books`].

mod books;
pub mod conn;
mod connect;
pub mod control;
pub mod handshakes;
pub mod intervals;
mod load;
mod pacer;
pub mod socket;
pub mod storm;
mod tally;
mod wakeup;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use mio::{Events, Poll};

use crate::clock::RunClock;
use crate::config::{Bench, BenchConfig, Load, StopAt, Storm};
use crate::errors::{ErrorCounts, ErrorKind};
use crate::recorder::Recorder;
use crate::transport::TlsClient;
use conn::Dial;
use control::{Control, Timeline};
use handshakes::Handshakes;
use intervals::{Shipper, ThreadMsg};
use pacer::{Pace, Pacer, Window};

pub(crate) use books::Books;

/// What one thread is asked to do.
#[derive(Debug, Clone)]
pub struct ThreadPlan {
    /// Thread number, from 0.
    pub index: usize,
    /// Where to connect.
    pub addr: SocketAddr,
    /// The TLS client, for TLS targets.
    pub tls: Option<Arc<TlsClient>>,
    /// Connections this thread owns.
    pub connections: usize,
    /// Measured requests this thread issues (request-count mode).
    pub budget: Option<u64>,
}

impl ThreadPlan {
    /// Where its connections go, and how.
    pub(crate) fn dial(&self) -> Dial {
        Dial {
            addr: self.addr,
            tls: self.tls.clone(),
        }
    }

    /// A number for this thread's connection `i` that no other connection of the run has: it
    /// seeds the connection's picks, so the same seed gives it the same requests.
    pub(crate) fn connection_index(&self, i: usize) -> u64 {
        ((self.index as u64) << 40) | i as u64
    }
}

/// What one thread measured.
#[derive(Debug, Clone, Default)]
pub struct ThreadOutcome {
    /// Its histograms.
    pub recorder: Recorder,
    /// Its errors.
    pub errors: ErrorCounts,
    /// Failed connects by errno name.
    pub connect_failures: BTreeMap<String, u64>,
    /// Connections it established.
    pub connections_opened: u64,
    /// Established connections it lost before the end.
    pub connections_lost: u64,
    /// Requests written.
    pub sent: u64,
    /// Bytes read from the target during the measurement.
    pub received_bytes: u64,
    /// Bytes written to the target during the measurement.
    pub sent_bytes: u64,
    /// Replies the server marked CAPPED (it did less than asked).
    pub capped: u64,
    /// Replies by kind (HTTP status, RESP type), warm-up included.
    pub reply_kinds: BTreeMap<String, u64>,
    /// Connections dropped for bytes that were no reply, by what was wrong.
    pub decode_failures: BTreeMap<String, u64>,
    /// Connections the server closed after a reply, as it said it would, and the driver opened
    /// again.
    pub reconnects: u64,
    /// Requests still in flight when the run was stopped early (neither answered nor errors).
    pub in_flight_at_stop: u64,
    /// Run-clock time of its last recorded measured reply.
    pub last_completion_ns: u64,
    /// Run-clock time it stopped.
    pub stopped_ns: u64,
    /// Time this thread took to establish its connections.
    pub connect: Duration,
    /// CPU time the thread used while applying load.
    pub cpu: Duration,
    /// Part of that CPU time spent spinning with nothing to do (open loop waits for due times
    /// closer than epoll can sleep); not work, so not counted as busy.
    pub idle_spin: Duration,
    /// Wall time the thread spent applying load.
    pub wall: Duration,
    /// What a storm thread measured besides (none for bench load).
    pub storm: Option<storm::StormThread>,
    /// How its connections were set up: TCP connect and TLS handshake times.
    pub handshakes: Handshakes,
}

/// Every byte `conns` have received and sent so far.
pub(crate) fn bytes_of(conns: &[conn::Conn]) -> (u64, u64) {
    conns.iter().fold((0, 0), |(r, s), c| {
        let (cr, cs) = c.transferred();
        (r + cr, s + cs)
    })
}

/// Runs one driver thread to completion.
pub fn run_thread(
    plan: &ThreadPlan,
    cfg: &BenchConfig,
    control: &Control,
    clock: RunClock,
    tx: Option<Sender<ThreadMsg>>,
) -> ThreadOutcome {
    match &cfg.load {
        Load::ClosedLoop(bench) => bench_thread(plan, cfg, bench, Pace::Closed, control, clock, tx),
        Load::OpenLoop {
            bench,
            rate,
            arrivals,
        } => {
            let pace = Pace::Open {
                rate: rate.clone(),
                arrivals: *arrivals,
            };
            bench_thread(plan, cfg, bench, pace, control, clock, tx)
        }
        Load::Storm(st) => storm_thread(plan, cfg, st, control, clock, tx),
    }
}

/// A bench thread: connects its share, waits for the others, then loads until its window
/// closes and its replies are in.
fn bench_thread(
    plan: &ThreadPlan,
    cfg: &BenchConfig,
    bench: &Bench,
    pace: Pace,
    control: &Control,
    clock: RunClock,
    tx: Option<Sender<ThreadMsg>>,
) -> ThreadOutcome {
    let mut out = ThreadOutcome::default();
    let mut books = Books::new(control, cfg.request.lines().len(), stage_ends_ns(cfg));
    let mut events = Events::with_capacity(1024);
    let started = clock.now_ns();
    let mut connected = match Poll::new() {
        Ok(mut poll) => {
            let c = connect::connect_all(
                &mut poll,
                &mut events,
                plan,
                &cfg.request,
                cfg.connect_timeout,
                clock,
                &mut books,
            );
            Some((poll, c))
        }
        Err(e) => {
            tracing::error!(error = %e, "driver thread could not create its poll");
            books.tally.add(ErrorKind::Connect, plan.connections as u64);
            None
        }
    };
    out.connect = Duration::from_nanos(clock.now_ns().saturating_sub(started));
    // Everyone connected (or gave up): the first thread through fixes the timeline for all.
    let (timeline, mut shipper) = start_together(plan, cfg, control, clock, tx);
    if let Some((poll, c)) = connected.as_mut() {
        out.connections_opened = c.opened;
        out.connect_failures = std::mem::take(&mut c.failures);
        if let Some(t) = timeline {
            let pacer = Pacer::new(
                pace,
                window(plan, t),
                t.start_ns,
                plan.index,
                control.threads(),
                cfg.request_timeout,
            );
            let mut load = load::BenchLoop::new(
                cfg,
                bench.pipeline,
                clock,
                pacer,
                &mut books,
                &mut shipper,
                &c.conns,
            );
            let times = load.run(poll, &mut events, &mut c.conns, t);
            (out.cpu, out.idle_spin, out.wall) = (times.cpu, times.idle_spin, times.wall);
            out.in_flight_at_stop = times.in_flight_at_stop;
        }
    }
    settle(&mut out, &mut books, &mut shipper, clock);
    out
}

/// Where each of a staged run's stages ends, ns after the start of measurement (none for
/// other runs).
fn stage_ends_ns(cfg: &BenchConfig) -> Vec<u64> {
    let Load::OpenLoop { rate, .. } = &cfg.load else {
        return Vec::new();
    };
    let mut end = Duration::ZERO;
    rate.stages().map_or_else(Vec::new, |s| {
        s.list()
            .iter()
            .map(|st| {
                end += st.duration;
                end.as_nanos() as u64
            })
            .collect()
    })
}

/// Waits for every thread (and `--start-at`); the first through fixes the timeline for all.
/// Returns it (none if the run was stopped first) and this thread's interval shipper.
fn start_together(
    plan: &ThreadPlan,
    cfg: &BenchConfig,
    control: &Control,
    clock: RunClock,
    tx: Option<Sender<ThreadMsg>>,
) -> (Option<Timeline>, Shipper) {
    let go = control.all_connected() && wait_for_start(cfg.start_at_unix_s, control);
    let timeline = go.then(|| control.fix_timeline(|| timeline_from(clock.now_ns(), cfg)));
    let shipper = Shipper::new(
        plan.index,
        tx,
        timeline.map_or(u64::MAX, |t| t.measure_start_ns),
    );
    (timeline, shipper)
}

/// Ships the last interval and moves the books into the thread's outcome (the same for bench
/// and storm threads, so neither loses a count the other keeps).
fn settle(out: &mut ThreadOutcome, books: &mut Books<'_>, shipper: &mut Shipper, clock: RunClock) {
    out.stopped_ns = clock.now_ns();
    let end = books.bytes_at_end;
    shipper.finish(out.stopped_ns, &mut || books.take_interval(end.0));
    out.errors = books.tally.counts;
    out.connections_lost = books.lost;
    out.sent = books.sent;
    (out.received_bytes, out.sent_bytes) = books.measured_bytes(end);
    out.capped = books.capped;
    out.reconnects = books.reconnects;
    out.handshakes = std::mem::take(&mut books.handshakes);
    out.reply_kinds = books
        .kinds
        .iter()
        .map(|(k, n)| (k.to_string(), *n))
        .collect();
    out.decode_failures = books
        .decode_failures
        .iter()
        .map(|(k, n)| ((*k).to_string(), *n))
        .collect();
    out.last_completion_ns = books.last_completion_ns;
    out.recorder = std::mem::take(&mut books.recorder);
}

/// A storm thread: no connect phase (connecting is what a storm measures), then the storm loop.
fn storm_thread(
    plan: &ThreadPlan,
    cfg: &BenchConfig,
    st: &Storm,
    control: &Control,
    clock: RunClock,
    tx: Option<Sender<ThreadMsg>>,
) -> ThreadOutcome {
    let mut out = ThreadOutcome::default();
    let mut books = Books::new(control, cfg.request.lines().len(), Vec::new());
    let mut events = Events::with_capacity(4096);
    let (timeline, mut shipper) = start_together(plan, cfg, control, clock, tx);
    match (timeline, Poll::new()) {
        (Some(t), Ok(mut poll)) => {
            let storm =
                storm::StormLoop::new(cfg, st, plan, clock, &mut books, &mut shipper, t.start_ns);
            let (stats, failures, cpu, wall) = storm.run(&mut poll, &mut events, t);
            out.connections_opened = stats.connect_ns.len();
            out.idle_spin = stats.idle_spin;
            out.connect_failures = failures;
            out.storm = Some(stats);
            (out.cpu, out.wall) = (cpu, wall);
        }
        (_, Err(e)) => {
            tracing::error!(error = %e, "driver thread could not create its poll");
        }
        (None, _) => {}
    }
    settle(&mut out, &mut books, &mut shipper, clock);
    out
}

/// Which requests belong to this thread's run: those due before the end, or its share of the
/// request count.
fn window(plan: &ThreadPlan, t: Timeline) -> Window {
    match (t.end_ns, plan.budget) {
        (Some(end_ns), _) => Window::Until { end_ns },
        (None, budget) => Window::Count {
            measure_start_ns: t.measure_start_ns,
            left: budget.unwrap_or(0),
        },
    }
}

/// Sleeps until `start_at` (Unix seconds) if given; false if the run was stopped meanwhile.
fn wait_for_start(start_at: Option<f64>, control: &Control) -> bool {
    let Some(at) = start_at else { return true };
    loop {
        if control.stopped() {
            return false;
        }
        let now = crate::clock::unix_now_s();
        if now >= at {
            return true;
        }
        std::thread::sleep(Duration::from_secs_f64((at - now).min(0.05)));
    }
}

fn timeline_from(start_ns: u64, cfg: &BenchConfig) -> Timeline {
    let measure_start_ns = start_ns + cfg.load.warmup().as_nanos() as u64;
    let end_ns = match cfg.stop() {
        StopAt::Duration(d) => Some(measure_start_ns + d.as_nanos() as u64),
        StopAt::Requests(_) => None,
    };
    Timeline {
        start_ns,
        measure_start_ns,
        end_ns,
    }
}

/// CPU time used by the calling thread so far.
pub(crate) fn thread_cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_THREAD) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000)
            };
            tv(u.user_time()) + tv(u.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}
