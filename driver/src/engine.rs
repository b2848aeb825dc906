//! One driver thread: a mio event loop over its connections, closed or open loop.
//!
//! The thread connects its share of the connections, waits for every other thread to be
//! connected (so connection set-up is never inside the measurement), then applies load:
//!
//! - closed loop: every connection keeps `pipeline` requests in flight; each reply is matched,
//!   checked, timed, recorded and immediately replaced;
//! - open loop: requests fall due on the thread's [`Schedule`]. A due request goes out on a
//!   connection with a free slot (connections take turns); when none has one it waits in a
//!   backlog with its due time unchanged, so the wait is part of its latency. Nothing due is ever
//!   dropped or moved. Latency is measured from the due time (corrected) and from the actual send
//!   (uncorrected), and how late the driver itself got to each due request is recorded as lag.
//!
//! Bytes are the codec's business; timing is the run clock's and the schedule's; this file only
//! moves requests between them and the sockets.
//!
//! The clock is read once per read() that returned data: that instant is both the receive time
//! of every reply in the batch and the intended send time of the requests that replace them, so
//! a reply's latency never includes the time spent parsing the replies before it.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use std::sync::mpsc::Sender;

use hdrhistogram::Histogram;

use crate::clock::RunClock;
use crate::config::{BenchConfig, StopAt};
use crate::errors::ErrorCounts;
use crate::recorder::Recorder;
use crate::schedule::Schedule;
use crate::target::{Codec, RequestSpec};

/// Length of one progress / interval-log interval.
pub const INTERVAL_NS: u64 = 1_000_000_000;
/// Below this much time to the next due request the loop spins instead of sleeping in epoll,
/// whose timeout has millisecond granularity.
const SPIN_BELOW_NS: u64 = 1_500_000;

/// What driver threads tell the thread watching them while the run goes on.
#[derive(Debug)]
pub enum ThreadMsg {
    /// Corrected latencies recorded in measurement interval `index` (1 s each from the start of
    /// measurement), which ended at `end_ns` on the run clock.
    Interval {
        /// Sending thread.
        thread: usize,
        /// Interval number, from 0.
        index: u64,
        /// When the interval ended (earlier than a whole second for the last one).
        end_ns: u64,
        /// The interval's corrected latencies.
        hist: Histogram<u64>,
    },
    /// The thread has sent its last interval.
    Done {
        /// Sending thread.
        thread: usize,
    },
}

const INITIAL_READ_BYTES: usize = 4096;
/// Longest the loop sleeps before looking at the stop flag and the clock again.
const MAX_POLL_WAIT: Duration = Duration::from_millis(50);

/// Why a run ended before its planned end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StopReason {
    /// Still running, or ended as planned.
    None = 0,
    /// The user interrupted it (Ctrl-C / SIGTERM).
    Interrupted = 1,
    /// Errors passed `--max-errors`.
    ErrorLimit = 2,
}

impl StopReason {
    fn from_u8(v: u8) -> StopReason {
        match v {
            1 => StopReason::Interrupted,
            2 => StopReason::ErrorLimit,
            _ => StopReason::None,
        }
    }
}

/// The phases of a run on the run clock, fixed once every thread is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    /// Load starts (warm-up begins).
    pub start_ns: u64,
    /// Warm-up ends and measurement begins.
    pub measure_start_ns: u64,
    /// Measurement ends (duration mode); `None` when stopping after a request count.
    pub end_ns: Option<u64>,
}

/// State shared by the driver threads and the thread that started them.
#[derive(Debug)]
pub struct Shared {
    stop: AtomicBool,
    stop_reason: AtomicU8,
    errors: AtomicU64,
    max_errors: u64,
    /// Threads still connecting; load starts when it reaches zero.
    connecting: Mutex<usize>,
    connected: Condvar,
    timeline: OnceLock<Timeline>,
    /// Replies recorded so far, one slot per thread, for progress reports.
    pub completed: Vec<PaddedU64>,
}

/// A counter on its own cache line, so threads updating neighbours do not slow each other.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct PaddedU64(pub AtomicU64);

impl Shared {
    /// Shared state for `threads` driver threads.
    pub fn new(threads: usize, max_errors: u64) -> Shared {
        Shared {
            stop: AtomicBool::new(false),
            stop_reason: AtomicU8::new(0),
            errors: AtomicU64::new(0),
            max_errors,
            connecting: Mutex::new(threads),
            connected: Condvar::new(),
            timeline: OnceLock::new(),
            completed: (0..threads).map(|_| PaddedU64::default()).collect(),
        }
    }

    /// Asks every thread to stop now, keeping the first reason given.
    pub fn request_stop(&self, reason: StopReason) {
        let _ =
            self.stop_reason
                .compare_exchange(0, reason as u8, Ordering::AcqRel, Ordering::Acquire);
        self.stop.store(true, Ordering::Release);
    }

    /// Waits until every thread has connected, or the run is stopped (a thread that could not
    /// be started must not leave the others waiting forever). Returns false if stopped.
    fn all_connected(&self) -> bool {
        let mut left = self.connecting.lock().unwrap_or_else(|e| e.into_inner());
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.connected.notify_all();
        }
        while *left > 0 && !self.stop.load(Ordering::Acquire) {
            left = self
                .connected
                .wait_timeout(left, MAX_POLL_WAIT)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *left == 0
    }

    /// Why the run was stopped early, if it was.
    pub fn stop_reason(&self) -> StopReason {
        StopReason::from_u8(self.stop_reason.load(Ordering::Acquire))
    }

    /// The timeline, once the threads have fixed it.
    pub fn timeline(&self) -> Option<Timeline> {
        self.timeline.get().copied()
    }

    /// Errors counted so far by all threads.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// What one thread is asked to do.
#[derive(Debug, Clone)]
pub struct ThreadPlan {
    /// Thread number, from 0.
    pub index: usize,
    /// Where to connect.
    pub addr: SocketAddr,
    /// Connections this thread owns.
    pub connections: usize,
    /// Requests to issue after warm-up (request-count mode).
    pub budget: Option<u64>,
}

/// What one thread measured.
#[derive(Debug, Clone, Default)]
pub struct ThreadOutcome {
    /// Its histograms.
    pub recorder: Recorder,
    /// Its errors.
    pub errors: ErrorCounts,
    /// Connections it established.
    pub connections_opened: u64,
    /// Established connections it lost before the end.
    pub connections_lost: u64,
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
}

struct InFlight {
    id: u64,
    intended_ns: u64,
    sent_ns: u64,
}

struct Conn {
    idx: usize,
    /// `None` once the connection is dead.
    stream: Option<TcpStream>,
    connecting: bool,
    /// In the ready queue (open loop).
    queued: bool,
    codec: Box<dyn Codec>,
    rbuf: Vec<u8>,
    rlen: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    in_flight: VecDeque<InFlight>,
}

struct Load<'a> {
    plan: &'a ThreadPlan,
    shared: &'a Shared,
    clock: RunClock,
    timeline: Timeline,
    pipeline: usize,
    budget: Option<u64>,
    next_id: u64,
    in_flight_total: usize,
    open: usize,
    out: ThreadOutcome,
    /// Open loop: the thread's schedule.
    schedule: Option<Schedule>,
    /// Open loop: due times of requests waiting for a free slot, oldest first.
    backlog: VecDeque<u64>,
    /// Open loop: connections with a free slot, in turn.
    ready: VecDeque<usize>,
    touched: Vec<usize>,
    interval_index: u64,
    next_interval_ns: u64,
    tx: Option<Sender<ThreadMsg>>,
    idle_spin_ns: u64,
}

/// Runs one driver thread to completion.
pub fn run_thread(
    plan: &ThreadPlan,
    cfg: &BenchConfig,
    shared: &Shared,
    clock: RunClock,
    tx: Option<Sender<ThreadMsg>>,
) -> ThreadOutcome {
    let mut out = ThreadOutcome::default();
    let mut conns = Vec::with_capacity(plan.connections);
    let mut events = Events::with_capacity(1024);
    let mut poll = match Poll::new() {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::error!(error = %e, "driver thread could not create its poll");
            None
        }
    };
    let connect_started = clock.now_ns();
    if let Some(poll) = poll.as_mut() {
        connect_all(
            poll,
            plan,
            &cfg.request,
            cfg.connect_timeout,
            clock,
            shared,
            &mut conns,
            &mut events,
            &mut out,
        );
    } else {
        out.errors.connect += plan.connections as u64;
    }
    out.connect = Duration::from_nanos(clock.now_ns().saturating_sub(connect_started));
    // Everyone connected (or gave up): the first thread through fixes the timeline for all.
    if !shared.all_connected() || !wait_for_start(cfg.start_at_unix_s, shared) {
        out.stopped_ns = clock.now_ns();
        if let Some(tx) = &tx {
            let _ = tx.send(ThreadMsg::Done { thread: plan.index });
        }
        return out;
    }
    let timeline = *shared
        .timeline
        .get_or_init(|| timeline_from(clock.now_ns(), cfg));
    let Some(mut poll) = poll else {
        out.stopped_ns = clock.now_ns();
        if let Some(tx) = &tx {
            let _ = tx.send(ThreadMsg::Done { thread: plan.index });
        }
        return out;
    };
    let schedule = cfg.open_loop.map(|o| {
        let threads = shared.completed.len() as f64;
        // Threads start at the same instant with independent streams derived from one seed.
        let seed = crate::schedule::SplitMix64::new(
            o.seed ^ (plan.index as u64).wrapping_mul(0xA24B_AED4_963E_E407),
        )
        .next_u64();
        Schedule::new(timeline.start_ns, o.rate_per_s / threads, o.arrival, seed)
    });
    let cpu_before = thread_cpu_time();
    let mut load = Load {
        plan,
        shared,
        clock,
        timeline,
        pipeline: cfg.pipeline.max(1),
        budget: plan.budget,
        next_id: (plan.index as u64) << 48,
        in_flight_total: 0,
        open: conns.iter().filter(|c| c.stream.is_some()).count(),
        out,
        schedule,
        backlog: VecDeque::new(),
        ready: VecDeque::new(),
        touched: Vec::new(),
        interval_index: 0,
        next_interval_ns: timeline.measure_start_ns + INTERVAL_NS,
        tx,
        idle_spin_ns: 0,
    };
    load.run(
        &mut poll,
        &mut events,
        &mut conns,
        cfg.drain_timeout,
        cfg.request_timeout,
    );
    let load_idle = load.idle_spin_ns;
    let mut out = load.out;
    out.stopped_ns = clock.now_ns();
    out.wall = Duration::from_nanos(out.stopped_ns.saturating_sub(timeline.start_ns));
    out.cpu = thread_cpu_time().saturating_sub(cpu_before);
    out.idle_spin = Duration::from_nanos(load_idle);
    out
}

/// Sleeps until `start_at` (Unix seconds) if given; false if the run was stopped meanwhile.
fn wait_for_start(start_at: Option<f64>, shared: &Shared) -> bool {
    let Some(at) = start_at else { return true };
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return false;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        if now >= at {
            return true;
        }
        std::thread::sleep(Duration::from_secs_f64((at - now).min(0.05)));
    }
}

fn timeline_from(start_ns: u64, cfg: &BenchConfig) -> Timeline {
    let measure_start_ns = start_ns + cfg.warmup.as_nanos() as u64;
    let end_ns = match cfg.stop {
        StopAt::Duration(d) => Some(measure_start_ns + d.as_nanos() as u64),
        StopAt::Requests(_) => None,
    };
    Timeline {
        start_ns,
        measure_start_ns,
        end_ns,
    }
}

#[allow(clippy::too_many_arguments)]
fn connect_all(
    poll: &mut Poll,
    plan: &ThreadPlan,
    spec: &RequestSpec,
    timeout: Duration,
    clock: RunClock,
    shared: &Shared,
    conns: &mut Vec<Conn>,
    events: &mut Events,
    out: &mut ThreadOutcome,
) {
    let mut pending = 0usize;
    for i in 0..plan.connections {
        let mut conn = Conn {
            idx: i,
            stream: None,
            connecting: false,
            queued: false,
            codec: spec.codec(),
            rbuf: Vec::new(),
            rlen: 0,
            wbuf: Vec::new(),
            wpos: 0,
            in_flight: VecDeque::new(),
        };
        match TcpStream::connect(plan.addr) {
            Ok(mut s) => match poll.registry().register(
                &mut s,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                Ok(()) => {
                    conn.stream = Some(s);
                    conn.connecting = true;
                    pending += 1;
                }
                Err(e) => connect_failed(out, shared, &e),
            },
            Err(e) => connect_failed(out, shared, &e),
        }
        conns.push(conn);
    }
    let deadline = clock.now_ns() + timeout.as_nanos() as u64;
    while pending > 0 && !shared.stop.load(Ordering::Acquire) {
        let now = clock.now_ns();
        if now >= deadline {
            break;
        }
        let wait = Duration::from_nanos(deadline - now).min(MAX_POLL_WAIT);
        if let Err(e) = poll.poll(events, Some(wait)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        for ev in events.iter() {
            let Some(conn) = conns.get_mut(ev.token().0) else {
                continue;
            };
            if !conn.connecting {
                continue;
            }
            let Some(s) = conn.stream.as_ref() else {
                continue;
            };
            // mio's recipe for a nonblocking connect: an error is reported by take_error, success
            // by peer_addr; NotConnected means the event was early and we wait for another.
            let result = match s.take_error() {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => match s.peer_addr() {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                    Err(e) => Err(e),
                },
            };
            match result {
                Ok(false) => {}
                Ok(true) => {
                    conn.connecting = false;
                    pending -= 1;
                    out.connections_opened += 1;
                }
                Err(e) => {
                    conn.stream = None;
                    conn.connecting = false;
                    pending -= 1;
                    connect_failed(out, shared, &e);
                }
            }
        }
    }
    for conn in conns.iter_mut().filter(|c| c.connecting) {
        conn.stream = None;
        conn.connecting = false;
        connect_failed(
            out,
            shared,
            &io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
        );
    }
}

fn connect_failed(out: &mut ThreadOutcome, shared: &Shared, e: &io::Error) {
    tracing::debug!(error = %e, "connect failed");
    out.errors.connect += 1;
    count_error(shared);
}

fn count_error(shared: &Shared) {
    let n = shared.errors.fetch_add(1, Ordering::Relaxed) + 1;
    if n >= shared.max_errors {
        shared.request_stop(StopReason::ErrorLimit);
    }
}

impl Load<'_> {
    fn run(
        &mut self,
        poll: &mut Poll,
        events: &mut Events,
        conns: &mut [Conn],
        drain_timeout: Duration,
        request_timeout: Duration,
    ) {
        let start = self.clock.now_ns();
        let timeout_ns = request_timeout.as_nanos().max(1) as u64;
        // Look for expired requests ten times per timeout period (1 ms .. 100 ms apart).
        let check_every_ns = (timeout_ns / 10).clamp(1_000_000, 100_000_000);
        let mut next_check_ns = start + check_every_ns;
        for conn in conns.iter_mut().filter(|c| c.stream.is_some()) {
            self.replenish(conn, start);
            self.flush(conn);
        }
        let mut drain_deadline: Option<u64> = None;
        loop {
            self.publish_progress();
            if self.shared.stop.load(Ordering::Acquire) || self.open == 0 {
                break;
            }
            let now = self.clock.now_ns();
            self.ship_intervals(now);
            if self.schedule.is_some() {
                self.issue_due(conns, now);
            }
            let mut wait = MAX_POLL_WAIT;
            if !self.issuing(now) {
                if self.in_flight_total == 0 && self.backlog.is_empty() {
                    break;
                }
                let deadline = *drain_deadline.get_or_insert(now + drain_timeout.as_nanos() as u64);
                if now >= deadline {
                    self.out.errors.timeout += (self.in_flight_total + self.backlog.len()) as u64;
                    self.backlog.clear();
                    break;
                }
                wait = wait.min(Duration::from_nanos(deadline - now));
            } else if let Some(s) = &self.schedule {
                // epoll sleeps in whole milliseconds (rounded up): sleep until a millisecond
                // before the next due time, then spin, so requests leave on time.
                let due = s.peek();
                wait = if due <= now || due - now < SPIN_BELOW_NS {
                    Duration::ZERO
                } else {
                    wait.min(Duration::from_nanos(due - now - 1_000_000))
                };
            }
            if let Err(e) = poll.poll(events, Some(wait)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(error = %e, "driver poll failed");
                break;
            }
            if wait.is_zero() && events.is_empty() {
                self.idle_spin_ns += self.clock.now_ns().saturating_sub(now);
            }
            for ev in events.iter() {
                let Some(conn) = conns.get_mut(ev.token().0) else {
                    continue;
                };
                if conn.stream.is_none() {
                    continue;
                }
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    self.read(conn, ev.is_read_closed() || ev.is_error());
                }
                if ev.is_writable() && conn.stream.is_some() {
                    self.flush(conn);
                }
            }
            let now = self.clock.now_ns();
            if now >= next_check_ns {
                next_check_ns = now + check_every_ns;
                self.expire(conns, now, timeout_ns);
            }
        }
        // Requests due but never sent (every connection lost, or the run was stopped).
        self.out.errors.timeout += self.backlog.len() as u64;
        self.backlog.clear();
        self.publish_progress();
        self.finish_intervals();
    }

    /// Sends every request due by `now` (open loop).
    fn issue_due(&mut self, conns: &mut [Conn], now: u64) {
        loop {
            let Some(due) = self.schedule.as_ref().map(Schedule::peek) else {
                return;
            };
            if due > now || !self.take_issue_slot(due) {
                break;
            }
            if let Some(s) = self.schedule.as_mut() {
                s.take();
            }
            if due >= self.timeline.measure_start_ns {
                self.out.recorder.record_lag(now - due);
            }
            match self.next_ready(conns) {
                Some(i) => {
                    let conn = &mut conns[i];
                    self.send(conn, due, now);
                    self.requeue(conn);
                    self.touched.push(i);
                }
                None => self.backlog.push_back(due),
            }
        }
        let touched = std::mem::take(&mut self.touched);
        for &i in &touched {
            self.flush(&mut conns[i]);
        }
        self.touched = touched;
        self.touched.clear();
    }

    /// The next live connection with a free slot, taken off the ready queue.
    fn next_ready(&mut self, conns: &mut [Conn]) -> Option<usize> {
        while let Some(i) = self.ready.pop_front() {
            let c = &mut conns[i];
            c.queued = false;
            if c.stream.is_some() && c.in_flight.len() < self.pipeline {
                return Some(i);
            }
        }
        None
    }

    /// Puts a connection with a free slot at the back of the ready queue.
    fn requeue(&mut self, conn: &mut Conn) {
        if !conn.queued && conn.stream.is_some() && conn.in_flight.len() < self.pipeline {
            conn.queued = true;
            self.ready.push_back(conn.idx);
        }
    }

    fn send(&mut self, conn: &mut Conn, intended_ns: u64, now: u64) {
        let id = self.next_id;
        self.next_id += 1;
        conn.codec.encode_request(id, intended_ns, &mut conn.wbuf);
        conn.in_flight.push_back(InFlight {
            id,
            intended_ns,
            sent_ns: now,
        });
        self.in_flight_total += 1;
    }

    /// Fills a connection's free slots: in closed loop with new requests, in open loop with
    /// requests waiting in the backlog (else the connection waits in the ready queue).
    fn replenish(&mut self, conn: &mut Conn, now: u64) {
        if self.schedule.is_none() {
            while conn.in_flight.len() < self.pipeline && self.take_issue_slot(now) {
                self.send(conn, now, now);
            }
            return;
        }
        while conn.in_flight.len() < self.pipeline {
            let Some(due) = self.backlog.pop_front() else {
                break;
            };
            self.send(conn, due, now);
        }
        self.requeue(conn);
    }

    /// Gives up on requests older than the timeout, so a server that never answers cannot hold
    /// the run (or a slot) forever.
    fn expire(&mut self, conns: &mut [Conn], now: u64, timeout_ns: u64) {
        for conn in conns.iter_mut().filter(|c| c.stream.is_some()) {
            let expired = conn
                .in_flight
                .iter()
                .take_while(|f| now.saturating_sub(f.sent_ns) >= timeout_ns)
                .count();
            if expired == 0 {
                continue;
            }
            if conn.codec.replies_carry_ids() {
                // A late reply will find no entry and count as unknown_id.
                conn.in_flight.drain(..expired);
                self.in_flight_total -= expired;
                for _ in 0..expired {
                    self.error(|e| e.timeout += 1);
                }
                self.replenish(conn, now);
                self.flush(conn);
            } else {
                // In-order replies: once one is given up on, later bytes cannot be attributed.
                for _ in 1..expired {
                    self.error(|e| e.timeout += 1);
                }
                self.fail(conn, |e| e.timeout += 1);
            }
        }
    }

    /// Sends finished intervals to the watching thread.
    fn ship_intervals(&mut self, now: u64) {
        while now >= self.next_interval_ns {
            let hist = self.out.recorder.take_interval();
            self.send_interval(self.next_interval_ns, hist);
            self.next_interval_ns += INTERVAL_NS;
        }
    }

    fn send_interval(&mut self, end_ns: u64, hist: Histogram<u64>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(ThreadMsg::Interval {
                thread: self.plan.index,
                index: self.interval_index,
                end_ns,
                hist,
            });
        }
        self.interval_index += 1;
    }

    fn finish_intervals(&mut self) {
        let now = self.clock.now_ns();
        if now > self.timeline.measure_start_ns {
            self.ship_intervals(now);
            // The last, partial interval, unless the run ended right on a boundary.
            if !self.out.recorder.interval.is_empty() {
                let hist = self.out.recorder.take_interval();
                self.send_interval(now, hist);
            }
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(ThreadMsg::Done {
                thread: self.plan.index,
            });
        }
    }

    fn publish_progress(&self) {
        let done = self.out.recorder.measured.len();
        self.shared.completed[self.plan.index]
            .0
            .store(done, Ordering::Relaxed);
    }

    /// Whether a request due at `t` belongs to the run (before the end, or within the budget).
    fn window_allows(&self, t: u64) -> bool {
        match (self.timeline.end_ns, self.budget) {
            (Some(end), _) => t < end,
            (None, Some(b)) => t < self.timeline.measure_start_ns || b > 0,
            (None, None) => false,
        }
    }

    /// Whether the measurement still wants requests: for open loop judged by the next due time,
    /// for closed loop by `now`.
    fn issuing(&self, now: u64) -> bool {
        self.window_allows(self.schedule.as_ref().map_or(now, Schedule::peek))
    }

    /// Like [`Load::window_allows`], and in request-count mode takes one from the budget
    /// (warm-up requests do not count against it).
    fn take_issue_slot(&mut self, t: u64) -> bool {
        let allowed = self.window_allows(t);
        if allowed && self.timeline.end_ns.is_none() && t >= self.timeline.measure_start_ns {
            if let Some(b) = self.budget.as_mut() {
                *b -= 1;
            }
        }
        allowed
    }

    fn read(&mut self, conn: &mut Conn, drain_to_eof: bool) {
        loop {
            if conn.rlen == conn.rbuf.len() {
                let n = (conn.rbuf.len() * 2).max(INITIAL_READ_BYTES);
                conn.rbuf.resize(n, 0);
            }
            let space = conn.rbuf.len() - conn.rlen;
            let Some(stream) = conn.stream.as_mut() else {
                return;
            };
            match stream.read(&mut conn.rbuf[conn.rlen..]) {
                Ok(0) => {
                    self.fail(conn, |e| e.connection_closed += 1);
                    return;
                }
                Ok(n) => {
                    conn.rlen += n;
                    let now = self.clock.now_ns();
                    if !self.take_replies(conn, now) {
                        self.fail(conn, |e| e.decode += 1);
                        return;
                    }
                    self.replenish(conn, now);
                    // Same reasoning as the server: a short read drained the socket.
                    if n < space && !drain_to_eof {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.io_failure(conn, &e);
                    return;
                }
            }
        }
        self.flush(conn);
    }

    /// Matches, checks and records every complete reply in the read buffer; false if the bytes
    /// cannot be parsed at all.
    fn take_replies(&mut self, conn: &mut Conn, now: u64) -> bool {
        let mut pos = 0;
        let ok = loop {
            let oldest = conn.in_flight.front().map(|f| f.id);
            match conn
                .codec
                .decode_response(&conn.rbuf[pos..conn.rlen], oldest)
            {
                Ok(Some(r)) => {
                    pos += r.consumed;
                    let entry = if oldest == Some(r.id) {
                        conn.in_flight.pop_front()
                    } else {
                        let at = conn.in_flight.iter().position(|f| f.id == r.id);
                        at.and_then(|i| conn.in_flight.remove(i))
                    };
                    let Some(req) = entry else {
                        self.error(|e| e.unknown_id += 1);
                        continue;
                    };
                    self.in_flight_total -= 1;
                    if !r.valid {
                        self.error(|e| e.bad_payload += 1);
                        continue;
                    }
                    let warmup = req.intended_ns < self.timeline.measure_start_ns;
                    self.out.recorder.record(
                        now.saturating_sub(req.intended_ns),
                        now.saturating_sub(req.sent_ns),
                        warmup,
                    );
                    if !warmup {
                        self.out.last_completion_ns = now;
                    }
                }
                Ok(None) => break true,
                Err(e) => {
                    tracing::debug!(error = %e, "undecodable reply; dropping the connection");
                    break false;
                }
            }
        };
        if pos == conn.rlen {
            conn.rlen = 0;
        } else if pos > 0 {
            conn.rbuf.copy_within(pos..conn.rlen, 0);
            conn.rlen -= pos;
        }
        ok
    }

    fn flush(&mut self, conn: &mut Conn) {
        while conn.wpos < conn.wbuf.len() {
            let Some(stream) = conn.stream.as_mut() else {
                return;
            };
            match stream.write(&conn.wbuf[conn.wpos..]) {
                Ok(0) => {
                    self.fail(conn, |e| e.connection_closed += 1);
                    return;
                }
                Ok(n) => conn.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.io_failure(conn, &e);
                    return;
                }
            }
        }
        conn.wbuf.clear();
        conn.wpos = 0;
    }

    fn io_failure(&mut self, conn: &mut Conn, e: &io::Error) {
        let closed = matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionAborted
        );
        if closed {
            self.fail(conn, |c| c.connection_closed += 1);
        } else {
            tracing::debug!(error = %e, "connection I/O error");
            self.fail(conn, |c| c.io += 1);
        }
    }

    /// Counts an error and drops the connection; its requests in flight are lost with it.
    fn fail(&mut self, conn: &mut Conn, kind: impl FnOnce(&mut ErrorCounts)) {
        self.error(kind);
        if conn.stream.take().is_some() {
            self.open -= 1;
            self.out.connections_lost += 1;
        }
        self.in_flight_total -= conn.in_flight.len();
        conn.in_flight.clear();
        conn.wbuf = Vec::new();
        conn.rbuf = Vec::new();
        conn.rlen = 0;
        conn.wpos = 0;
    }

    fn error(&mut self, kind: impl FnOnce(&mut ErrorCounts)) {
        kind(&mut self.out.errors);
        count_error(self.shared);
    }
}

/// CPU time used by the calling thread so far.
fn thread_cpu_time() -> Duration {
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
