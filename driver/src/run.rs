//! Running a benchmark: resolve or embed the target, check it answers, start the driver threads,
//! report progress, merge what they measured into one [`Report`].

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;

use crate::clock::RunClock;
use crate::config::{BenchConfig, StopAt};
use crate::engine::{
    run_thread, Shared, StopReason, ThreadMsg, ThreadOutcome, ThreadPlan, INTERVAL_NS,
};
use crate::errors::ErrorCounts;
use crate::host::HostInfo;
use crate::recorder::{new_histogram, Recorder};
use crate::report::{
    text::thousands, DriverSummary, LatencySummary, OpenLoopSummary, Report, Status, WarmupSummary,
};
use crate::target::ProtocolKind;

/// Default port when a target names only a host.
pub const DEFAULT_PORT: u16 = nines_server::config::DEFAULT_PORT;

/// Why a run could not start. Once it has started, problems are in the report instead.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration makes no sense.
    #[error("{0}")]
    Config(String),
    /// The target name did not resolve.
    #[error("cannot resolve target `{target}`: {source}")]
    Resolve {
        /// What the user wrote.
        target: String,
        /// Resolver error.
        source: std::io::Error,
    },
    /// Nothing answered at the target.
    #[error("cannot connect to {addr}: {source} (is a server listening there? start one with `nines-server --port {port}`)", port = addr.port())]
    Connect {
        /// Address tried.
        addr: SocketAddr,
        /// Connect error.
        source: std::io::Error,
    },
    /// The embedded server could not start.
    #[error("cannot start the embedded server: {0}")]
    Server(std::io::Error),
    /// A driver thread could not be started.
    #[error("cannot start a driver thread: {0}")]
    Thread(std::io::Error),
}

/// One second of measurement, merged over all driver threads.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Interval number from the start of measurement.
    pub index: u64,
    /// Wall-clock start, seconds since the Unix epoch.
    pub start_unix_s: f64,
    /// Length in seconds (the last one may be short).
    pub duration_s: f64,
    /// Corrected latencies recorded in it (ns).
    pub hist: Histogram<u64>,
}

/// How a caller watches and steers a run.
#[derive(Debug, Clone, Default)]
pub struct RunHooks {
    /// Set (e.g. by a Ctrl-C handler) to stop the run early; the report is still produced.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Print a progress line on stderr every second.
    pub progress: bool,
}

impl RunHooks {
    /// Progress on when stderr is a terminal.
    pub fn default_progress() -> bool {
        std::io::stderr().is_terminal()
    }
}

/// Resolves `host:port` (or `host`, meaning port 9999) to one address.
pub fn resolve(target: &str) -> Result<SocketAddr, RunError> {
    let err = |source| RunError::Resolve {
        target: target.to_string(),
        source,
    };
    let with_port = if target.parse::<SocketAddr>().is_ok() || has_port(target) {
        target.to_string()
    } else {
        format!(
            "{}:{DEFAULT_PORT}",
            target.trim_start_matches('[').trim_end_matches(']')
        )
    };
    let mut addrs = with_port.to_socket_addrs().map_err(err)?;
    addrs.next().ok_or_else(|| {
        err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no address",
        ))
    })
}

fn has_port(t: &str) -> bool {
    match t.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.ends_with(':')
                && port.parse::<u16>().is_ok()
                && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    }
}

/// Runs the benchmark `cfg` describes and returns its report.
///
/// # Errors
/// Only for problems found before load starts (bad config, unresolvable or unreachable target,
/// embedded server failure). Errors during the run are counted in the report.
pub fn run(cfg: &BenchConfig, hooks: &RunHooks) -> Result<Report, RunError> {
    run_with(cfg, hooks, |_| {})
}

/// [`run`], calling `on_interval` with each second of measurement as it completes (for interval
/// logs and live displays), in order.
///
/// # Errors
/// As [`run`].
pub fn run_with(
    cfg: &BenchConfig,
    hooks: &RunHooks,
    mut on_interval: impl FnMut(&Interval),
) -> Result<Report, RunError> {
    if let Some(o) = cfg.open_loop {
        if !(o.rate_per_s > 0.0 && o.rate_per_s.is_finite()) {
            return Err(RunError::Config(
                "--rate must be a positive number of requests per second".into(),
            ));
        }
    }
    if cfg.connections == 0 || cfg.threads == 0 || cfg.pipeline == 0 {
        return Err(RunError::Config(
            "--connections, --threads and --pipeline must be at least 1".into(),
        ));
    }
    if let Some(at) = cfg.start_at_unix_s {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        if at < now {
            return Err(RunError::Config(format!(
                "--start-at is {:.1} s in the past; give a time still to come (e.g. +30s)",
                now - at
            )));
        }
    }
    if cfg.stop == StopAt::Requests(0) || cfg.stop == StopAt::Duration(Duration::ZERO) {
        return Err(RunError::Config(
            "--requests or --duration must be more than zero".into(),
        ));
    }
    let started_unix_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut server = None;
    let addr = match &cfg.target {
        Some(t) => resolve(t)?,
        None => {
            let s = start_embedded(cfg)?;
            let a = s.local_addr();
            server = Some(s);
            a
        }
    };
    // One blocking connect first, so "nothing there" is one clear error, not N connect errors.
    TcpStream::connect_timeout(&addr, cfg.connect_timeout)
        .map_err(|source| RunError::Connect { addr, source })?;

    let kernel_before = crate::kernel::KernelCounters::read();
    let threads = cfg.threads.min(cfg.connections);
    let shared = Arc::new(Shared::new(threads, cfg.max_errors.max(1)));
    let clock = RunClock::start();
    let epoch_unix_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let (tx, rx) = mpsc::channel();
    let mut handles = Vec::with_capacity(threads);
    for index in 0..threads {
        let plan = ThreadPlan {
            index,
            addr,
            connections: share(cfg.connections as u64, threads, index) as usize,
            budget: match cfg.stop {
                StopAt::Requests(n) => Some(share(n, threads, index)),
                StopAt::Duration(_) => None,
            },
        };
        let (thread_cfg, thread_shared, thread_tx) = (cfg.clone(), shared.clone(), tx.clone());
        let h = std::thread::Builder::new()
            .name(format!("nines-driver-{index}"))
            .spawn(move || run_thread(&plan, &thread_cfg, &thread_shared, clock, Some(thread_tx)))
            .map_err(|e| {
                shared.request_stop(StopReason::Interrupted);
                RunError::Thread(e)
            })?;
        handles.push(h);
    }

    drop(tx);
    let mut intervals = IntervalMerger::new(threads, epoch_unix_s);
    watch(
        &handles,
        &shared,
        cfg,
        clock,
        hooks,
        &rx,
        &mut intervals,
        &mut on_interval,
    );
    let outcomes: Vec<ThreadOutcome> = handles
        .into_iter()
        .map(|h| {
            h.join().unwrap_or_else(|_| {
                tracing::error!("a driver thread panicked; its measurements are lost");
                ThreadOutcome::default()
            })
        })
        .collect();
    let server_counters = server.map(|s| s.shutdown());
    let mut report = build_report(
        cfg,
        addr,
        &shared,
        &outcomes,
        server_counters,
        started_unix_s,
    );
    report.kernel = kernel_before.delta(&crate::kernel::KernelCounters::read());
    if report.kernel.listen_overflows > 0 {
        report.warnings.push(format!(
            "the kernel counted {} accept-queue overflows (ListenOverflows) during the run: connections waited or were retried; raise the server's backlog and net.core.somaxconn",
            report.kernel.listen_overflows
        ));
    }
    Ok(report)
}

/// Starts nines-server in this process on 127.0.0.1 (a free port) for `nines bench` and
/// `nines profile` without a target: same protocol as the load, `server_workers` workers.
pub fn start_embedded(cfg: &BenchConfig) -> Result<nines_server::ServerHandle, RunError> {
    let sc = nines_server::ServerConfig {
        protocol: match cfg.request.protocol {
            ProtocolKind::Nines => nines_server::Protocol::Nines,
            ProtocolKind::Echo => nines_server::Protocol::Echo,
        },
        workers: cfg.server_workers.max(1),
        ..Default::default()
    };
    nines_server::Server::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        sc,
        &nines_server::listener::ListenOptions::default(),
    )
    .map_err(RunError::Server)
}

/// `total` split over `parts`, the remainder going to the first ones.
fn share(total: u64, parts: usize, index: usize) -> u64 {
    let parts = parts as u64;
    total / parts + u64::from((index as u64) < total % parts)
}

/// Gathers the threads' per-second histograms and releases each interval, merged, once every
/// thread has sent it (or finished).
struct IntervalMerger {
    epoch_unix_s: f64,
    last_sent: Vec<Option<u64>>,
    done: Vec<bool>,
    pending: BTreeMap<u64, (Histogram<u64>, u64)>,
    next: u64,
}

impl IntervalMerger {
    fn new(threads: usize, epoch_unix_s: f64) -> IntervalMerger {
        IntervalMerger {
            epoch_unix_s,
            last_sent: vec![None; threads],
            done: vec![false; threads],
            pending: BTreeMap::new(),
            next: 0,
        }
    }

    fn take(&mut self, msg: ThreadMsg) {
        match msg {
            ThreadMsg::Interval {
                thread,
                index,
                end_ns,
                hist,
            } => {
                self.last_sent[thread] = Some(index);
                let entry = self
                    .pending
                    .entry(index)
                    .or_insert_with(|| (new_histogram(), 0));
                // Same bounds everywhere, so `add` cannot fail.
                entry.0.add(&hist).expect("histograms share bounds");
                entry.1 = entry.1.max(end_ns);
            }
            ThreadMsg::Done { thread } => self.done[thread] = true,
        }
    }

    /// The next interval every thread is past, if there is one.
    fn ready(&mut self, measure_start_ns: u64) -> Option<Interval> {
        let k = self.next;
        let complete = self
            .last_sent
            .iter()
            .zip(&self.done)
            .all(|(sent, done)| *done || sent.is_some_and(|s| s >= k));
        if !complete {
            return None;
        }
        let (hist, end_ns) = self.pending.remove(&k)?;
        self.next += 1;
        let start_ns = measure_start_ns + k * INTERVAL_NS;
        Some(Interval {
            index: k,
            start_unix_s: self.epoch_unix_s + start_ns as f64 / 1e9,
            duration_s: end_ns.saturating_sub(start_ns) as f64 / 1e9,
            hist,
        })
    }
}

/// Waits for the threads: forwards interrupts, releases merged intervals in order, and prints a
/// progress line per interval (and during connect and warm-up, once a second).
#[allow(clippy::too_many_arguments)]
fn watch(
    handles: &[std::thread::JoinHandle<ThreadOutcome>],
    shared: &Shared,
    cfg: &BenchConfig,
    clock: RunClock,
    hooks: &RunHooks,
    rx: &mpsc::Receiver<ThreadMsg>,
    intervals: &mut IntervalMerger,
    on_interval: &mut dyn FnMut(&Interval),
) {
    let mut last_line = Instant::now();
    let total = match cfg.stop {
        StopAt::Duration(d) => format!("{:.0}s", (cfg.warmup + d).as_secs_f64()),
        StopAt::Requests(n) => format!("{} req", thousands(n)),
    };
    loop {
        let finished = handles.iter().all(|h| h.is_finished());
        while let Ok(msg) = rx.recv_timeout(if finished {
            Duration::ZERO
        } else {
            Duration::from_millis(20)
        }) {
            intervals.take(msg);
        }
        if hooks
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            shared.request_stop(StopReason::Interrupted);
        }
        let timeline = shared.timeline();
        let elapsed = timeline.map_or(0.0, |t| {
            clock.now_ns().saturating_sub(t.start_ns) as f64 / 1e9
        });
        while let Some(iv) = timeline.and_then(|t| intervals.ready(t.measure_start_ns)) {
            on_interval(&iv);
            if hooks.progress {
                let rate = if iv.duration_s > 0.0 {
                    iv.hist.len() as f64 / iv.duration_s
                } else {
                    0.0
                };
                eprintln!(
                    "[{elapsed:>6.1}s / {total}] {:>10} req/s  p50 {:>9.1} µs  p99 {:>9.1} µs  errors {}",
                    thousands(rate.round() as u64),
                    iv.hist.value_at_quantile(0.5) as f64 / 1000.0,
                    iv.hist.value_at_quantile(0.99) as f64 / 1000.0,
                    shared.errors()
                );
                last_line = Instant::now();
            }
        }
        if finished {
            break;
        }
        if hooks.progress && last_line.elapsed() >= Duration::from_millis(1500) {
            let phase = match timeline {
                None => "connecting",
                Some(t) if clock.now_ns() < t.measure_start_ns => "warming up",
                Some(_) => "measuring",
            };
            eprintln!(
                "[{elapsed:>6.1}s / {total}] {phase}  errors {}",
                shared.errors()
            );
            last_line = Instant::now();
        }
    }
}

fn build_report(
    cfg: &BenchConfig,
    addr: SocketAddr,
    shared: &Shared,
    outcomes: &[ThreadOutcome],
    server: Option<nines_server::Snapshot>,
    started_unix_s: f64,
) -> Report {
    let mut rec = Recorder::default();
    let mut errors = ErrorCounts::default();
    let (mut opened, mut lost, mut last, mut stopped) = (0, 0, 0u64, 0u64);
    for o in outcomes {
        rec.merge(&o.recorder);
        errors.add(&o.errors);
        opened += o.connections_opened;
        lost += o.connections_lost;
        last = last.max(o.last_completion_ns);
        stopped = stopped.max(o.stopped_ns);
    }
    let timeline = shared.timeline();
    let measure_start = timeline.map_or(0, |t| t.measure_start_ns);
    let requests = rec.measured.len();
    // Measured time runs to the last measured reply; with none, to when the threads stopped.
    let end = if requests > 0 { last } else { stopped };
    let duration_s = end.saturating_sub(measure_start) as f64 / 1e9;
    let throughput_rps = if duration_s > 0.0 {
        requests as f64 / duration_s
    } else {
        0.0
    };
    let reason = match shared.stop_reason() {
        StopReason::Interrupted => Some("interrupted".to_string()),
        StopReason::ErrorLimit => Some(format!(
            "error limit reached ({} errors, --max-errors {})",
            errors.total(),
            cfg.max_errors
        )),
        StopReason::None if opened > 0 && lost == opened && expected_more(cfg, requests) => {
            Some("every connection was lost".to_string())
        }
        StopReason::None if opened == 0 => Some("no connection could be established".to_string()),
        StopReason::None => None,
    };
    let warmup_s = timeline.map_or(0.0, |t| (t.measure_start_ns - t.start_ns) as f64 / 1e9);
    let busy_pct: Vec<f64> = outcomes
        .iter()
        .map(|o| pct(o.cpu.saturating_sub(o.idle_spin), o.wall))
        .collect();
    let open_loop = cfg.open_loop.map(|o| OpenLoopSummary {
        requested_rps: o.rate_per_s,
        achieved_rps: throughput_rps,
        arrival: o.arrival,
        seed: o.seed,
        schedule_lag_us: LatencySummary::from_histogram(&rec.lag),
    });
    let warnings = self_checks(cfg, open_loop.as_ref(), &busy_pct, lost, reason.is_some());
    Report {
        throughput_rps,
        requests,
        errors: errors.total(),
        duration_s,
        latency_us: LatencySummary::from_histogram(&rec.measured),
        latency_uncorrected_us: LatencySummary::from_histogram(&rec.uncorrected),
        warnings,
        open_loop,
        errors_by_kind: errors
            .by_kind()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        status: if reason.is_some() {
            Status::CutShort
        } else {
            Status::Completed
        },
        cut_short_reason: reason,
        mode: if cfg.open_loop.is_some() {
            "open_loop"
        } else {
            "closed_loop"
        },
        target: addr.to_string(),
        embedded_server: server.is_some(),
        warmup: WarmupSummary {
            requests: rec.warmup.len(),
            duration_s: warmup_s,
            latency_us: LatencySummary::from_histogram(&rec.warmup),
        },
        driver: DriverSummary {
            threads: outcomes.len(),
            connections: cfg.connections,
            connections_opened: opened,
            connections_lost: lost,
            connect_s: outcomes
                .iter()
                .map(|o| o.connect.as_secs_f64())
                .fold(0.0, f64::max),
            thread_cpu_pct: outcomes.iter().map(|o| pct(o.cpu, o.wall)).collect(),
            thread_busy_pct: busy_pct,
        },
        server: server.map(|s| s.pairs().iter().map(|(k, v)| (k.to_string(), *v)).collect()),
        config: cfg.clone(),
        host: HostInfo::collect(),
        nines_version: env!("CARGO_PKG_VERSION"),
        started_unix_s,
        histogram: rec.measured,
        kernel: Default::default(),
    }
}

/// `part` as a percentage of `whole`, one decimal.
fn pct(part: Duration, whole: Duration) -> f64 {
    if whole.is_zero() {
        return 0.0;
    }
    (part.as_secs_f64() / whole.as_secs_f64() * 1000.0).round() / 10.0
}

/// A driver thread this busy may have limited the result.
const BUSY_WARN_PCT: f64 = 95.0;

/// The checks that say when a result cannot be trusted as a measure of the server.
fn self_checks(
    cfg: &BenchConfig,
    open: Option<&OpenLoopSummary>,
    busy_pct: &[f64],
    lost: u64,
    cut_short: bool,
) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(o) = open {
        if !cut_short && o.achieved_rps < 0.99 * o.requested_rps {
            w.push(format!(
                "achieved {:.0} req/s, below 99% of the requested {:.0} req/s: the target (or the driver) did not keep up, and the latencies include the queueing that caused",
                o.achieved_rps, o.requested_rps
            ));
        }
        let threshold_us = cfg.lag_threshold.as_secs_f64() * 1e6;
        if o.schedule_lag_us.p99 > threshold_us {
            w.push(format!(
                "driver schedule lag p99 is {:.1} µs (threshold {:.1} µs): the load generator could not send on time, so it, not only the target, shaped these figures; add --threads or driver machines",
                o.schedule_lag_us.p99, threshold_us
            ));
        }
    }
    for (i, b) in busy_pct.iter().enumerate() {
        if *b >= BUSY_WARN_PCT {
            w.push(format!(
                "driver thread {i} was {b:.0}% busy: the driver may be the bottleneck; add --threads, or load from another machine"
            ));
        }
    }
    if lost > 0 {
        w.push(format!("{lost} connection(s) were lost mid-run; their requests in flight were counted as errors"));
    }
    w
}

/// Whether the run had more to do when its connections were lost.
fn expected_more(cfg: &BenchConfig, requests: u64) -> bool {
    match cfg.stop {
        StopAt::Requests(n) => requests < n,
        StopAt::Duration(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for (total, parts) in [(10u64, 3usize), (2, 5), (1000, 7), (0, 2)] {
            let sum: u64 = (0..parts).map(|i| share(total, parts, i)).sum();
            assert_eq!(sum, total);
        }
    }

    #[test]
    fn targets_resolve_with_and_without_port() {
        assert_eq!(
            resolve("127.0.0.1:80").unwrap(),
            "127.0.0.1:80".parse().unwrap()
        );
        assert_eq!(resolve("127.0.0.1").unwrap().port(), DEFAULT_PORT);
        assert_eq!(resolve("[::1]:81").unwrap(), "[::1]:81".parse().unwrap());
        assert_eq!(resolve("::1").unwrap().port(), DEFAULT_PORT);
        assert_eq!(resolve("localhost:82").unwrap().port(), 82);
        assert!(matches!(
            resolve("no-such-host.invalid:1"),
            Err(RunError::Resolve { .. })
        ));
    }
}
