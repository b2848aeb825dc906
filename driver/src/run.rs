//! Running a benchmark: resolve or embed the target, check it answers, start the driver threads,
//! report progress, merge what they measured into one [`Report`].

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::clock::RunClock;
use crate::config::{BenchConfig, StopAt};
use crate::engine::{run_thread, Shared, StopReason, ThreadOutcome, ThreadPlan};
use crate::errors::ErrorCounts;
use crate::host::HostInfo;
use crate::recorder::Recorder;
use crate::report::{
    text::thousands, DriverSummary, LatencySummary, Report, Status, WarmupSummary,
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
    if cfg.connections == 0 || cfg.threads == 0 || cfg.pipeline == 0 {
        return Err(RunError::Config(
            "--connections, --threads and --pipeline must be at least 1".into(),
        ));
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
            let sc = nines_server::ServerConfig {
                protocol: match cfg.request.protocol {
                    ProtocolKind::Nines => nines_server::Protocol::Nines,
                    ProtocolKind::Echo => nines_server::Protocol::Echo,
                },
                workers: cfg.server_workers.max(1),
                ..Default::default()
            };
            let s = nines_server::Server::bind(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                sc,
                &nines_server::listener::ListenOptions::default(),
            )
            .map_err(RunError::Server)?;
            let a = s.local_addr();
            server = Some(s);
            a
        }
    };
    // One blocking connect first, so "nothing there" is one clear error, not N connect errors.
    TcpStream::connect_timeout(&addr, cfg.connect_timeout)
        .map_err(|source| RunError::Connect { addr, source })?;

    let threads = cfg.threads.min(cfg.connections);
    let shared = Arc::new(Shared::new(threads, cfg.max_errors.max(1)));
    let clock = RunClock::start();
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
        let (thread_cfg, thread_shared) = (cfg.clone(), shared.clone());
        let h = std::thread::Builder::new()
            .name(format!("nines-driver-{index}"))
            .spawn(move || run_thread(&plan, &thread_cfg, &thread_shared, clock))
            .map_err(|e| {
                shared.request_stop(StopReason::Interrupted);
                RunError::Thread(e)
            })?;
        handles.push(h);
    }

    watch(&handles, &shared, cfg, clock, hooks);
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
    Ok(build_report(
        cfg,
        addr,
        &shared,
        &outcomes,
        server_counters,
        started_unix_s,
    ))
}

/// `total` split over `parts`, the remainder going to the first ones.
fn share(total: u64, parts: usize, index: usize) -> u64 {
    let parts = parts as u64;
    total / parts + u64::from((index as u64) < total % parts)
}

/// Waits for the threads, forwarding interrupts and printing progress once a second.
fn watch(
    handles: &[std::thread::JoinHandle<ThreadOutcome>],
    shared: &Shared,
    cfg: &BenchConfig,
    clock: RunClock,
    hooks: &RunHooks,
) {
    let mut last_print = Instant::now();
    let mut last_done = 0u64;
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(20));
        if hooks
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            shared.request_stop(StopReason::Interrupted);
        }
        if hooks.progress && last_print.elapsed() >= Duration::from_secs(1) {
            let done: u64 = shared
                .completed
                .iter()
                .map(|c| c.0.load(Ordering::Relaxed))
                .sum();
            let rate = (done - last_done.min(done)) as f64 / last_print.elapsed().as_secs_f64();
            last_print = Instant::now();
            last_done = done;
            let (elapsed, total) = match shared.timeline() {
                Some(t) => (
                    clock.now_ns().saturating_sub(t.start_ns) as f64 / 1e9,
                    match cfg.stop {
                        StopAt::Duration(d) => format!("{:.0}s", (cfg.warmup + d).as_secs_f64()),
                        StopAt::Requests(n) => format!("{} req", thousands(n)),
                    },
                ),
                None => (0.0, "connecting".into()),
            };
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "[{elapsed:>6.1}s / {total}] {:>10} req/s  done {:>12}  errors {}",
                thousands(rate.round() as u64),
                thousands(done),
                shared.errors()
            );
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
    Report {
        throughput_rps,
        requests,
        errors: errors.total(),
        duration_s,
        latency_us: LatencySummary::from_histogram(&rec.measured),
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
        mode: "closed_loop",
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
            thread_cpu_pct: outcomes
                .iter()
                .map(|o| {
                    if o.wall.is_zero() {
                        0.0
                    } else {
                        (o.cpu.as_secs_f64() / o.wall.as_secs_f64() * 1000.0).round() / 10.0
                    }
                })
                .collect(),
        },
        server: server.map(|s| s.pairs().iter().map(|(k, v)| (k.to_string(), *v)).collect()),
        config: cfg.clone(),
        host: HostInfo::collect(),
        nines_version: env!("CARGO_PKG_VERSION"),
        started_unix_s,
        histogram: rec.measured,
    }
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
