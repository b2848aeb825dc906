//! Running a benchmark: validate, resolve or embed the target and check it answers, start the
//! driver threads, watch them, and build one [`Report`] from what they measured.

mod build;
mod flame;
mod growth;
mod held;
mod server_cpu;
pub mod stats;
mod target;
mod watch;

pub use growth::{CERTAIN_R2, MIN_READINGS};
pub use target::{check_sources, resolve, start_embedded, tls_client};

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use nines_common::usage::UsageError;

use crate::clock::{unix_now_s, RunClock};
use crate::config::{BenchConfig, Limits, RequestSpec, StopAt};
use crate::engine::control::{Control, StopReason};
use crate::engine::intervals::ThreadMsg;
use crate::engine::{run_thread, ThreadOutcome, ThreadPlan};
use crate::host::KernelCounters;
use crate::observer::Observer;
use crate::report::manifest::Manifest;
use crate::report::Report;
use build::{build, RunRecord};

/// What this process may open now and the time: the host's side of every bound a run is
/// checked against.
pub fn limits() -> Limits {
    let l = crate::host::nofile();
    Limits {
        nofile: l.map_or(1024, |l| l.soft),
        nofile_hard: l.map_or(1024, |l| l.hard),
        now_unix_s: unix_now_s(),
    }
}

/// Checks every bound of `cfg` against this process's limits now; empty when it may start.
pub fn validate(cfg: &BenchConfig) -> Vec<UsageError> {
    cfg.validate_with(&limits())
}

/// [`validate`] for a storm spread over `processes` driver processes.
pub fn validate_over(cfg: &BenchConfig, processes: usize) -> Vec<UsageError> {
    cfg.validate_over(&limits(), processes)
}

/// Why a run could not start. Once it has started, problems are in the report instead.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Settings out of bounds (exit status 2), one error per flag.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Usage(Vec<UsageError>),
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
    /// The TLS handshake with the target failed before the run.
    #[error("TLS with {addr}: {failure}")]
    Tls {
        /// Address tried.
        addr: SocketAddr,
        /// What failed, in words.
        failure: crate::transport::Failure,
    },
    /// The embedded server could not start.
    #[error("cannot start the embedded server: {0}")]
    Server(std::io::Error),
    /// A driver thread could not be started.
    #[error("cannot start a driver thread: {0}")]
    Thread(std::io::Error),
}

/// How a caller watches and steers a run.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Set (e.g. by a Ctrl-C handler) to stop the run early; the report is still produced.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Receives progress events.
    pub observer: Option<&'a mut dyn Observer>,
    /// SLO clauses the run stops on once they are passed for certain, keeping what it
    /// measured: those on the target's growth (`rss_growth<=10MB/min`, `fd_growth<=0`; upper
    /// bounds, judged each second from [`MIN_READINGS`] readings, passed when the growth fitted
    /// so far is past the limit with r² at least [`CERTAIN_R2`]). Other clauses are the
    /// caller's to judge at the end.
    pub stop_on: Vec<crate::report::slo::Clause>,
}

impl std::fmt::Debug for Hooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("interrupt", &self.interrupt)
            .field("observer", &self.observer.is_some())
            .field("stop_on", &self.stop_on)
            .finish()
    }
}

/// Runs the benchmark `cfg` describes and returns its report.
///
/// # Errors
/// Only for problems found before load starts (settings out of bounds, unresolvable or
/// unreachable target, embedded server failure). Errors during the run are in the report.
pub fn run(cfg: &BenchConfig, hooks: &mut Hooks<'_>) -> Result<Report, RunError> {
    let usage = validate(cfg);
    if !usage.is_empty() {
        return Err(RunError::Usage(usage));
    }
    let manifest = Manifest::new(cfg, Vec::new());
    let target::Opened {
        addr: target,
        server,
        tls,
    } = target::open(cfg)?;
    let kernel_before = KernelCounters::read();
    let nines = matches!(cfg.request.first(), RequestSpec::Nines(_));
    let meter = server_cpu::Meter::start(
        target,
        server.is_some(),
        nines,
        tls.as_deref(),
        cfg.connect_timeout,
    );
    let (mut sampling, meter) = flame::attach(cfg.flame, meter);
    let threads = cfg.threads_used();
    let control = Arc::new(Control::new(threads, cfg.load.max_errors()));
    let clock = RunClock::start();
    let epoch_unix_s = unix_now_s();
    let (tx, rx) = mpsc::channel();
    let handles = spawn(threads, target, tls.clone(), cfg, &control, clock, tx)?;
    let server_held = held::ServerHeld::of(meter.as_ref(), target, tls.clone());
    let mut growing = growth::Growing::new(server_held, &hooks.stop_on);
    let intervals = watch::watch(
        &handles,
        &control,
        clock,
        hooks,
        &rx,
        &mut growing,
        sampling.as_mut(),
    );
    let give_up = flame::interrupted_from_now(hooks.interrupt.clone());
    let outcomes: Vec<ThreadOutcome> = handles
        .into_iter()
        .map(|h| {
            h.join().unwrap_or_else(|_| {
                tracing::error!("a driver thread panicked; its measurements are lost");
                ThreadOutcome::default()
            })
        })
        .collect();
    // Before the embedded server stops, while its threads are still in /proc.
    let server_cpu = meter.and_then(|m| m.finish(target, tls.as_deref(), cfg.connect_timeout));
    let server = server.map(|s| {
        let counters = s.shutdown();
        counters
            .pairs()
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect()
    });
    Ok(build(RunRecord {
        manifest,
        target,
        outcomes: &outcomes,
        stop: control.stop_reason(),
        growth_stop: growing.stopped(),
        timeline: control.timeline(),
        epoch_unix_s,
        intervals,
        server,
        kernel: kernel_before.delta(&KernelCounters::read()),
        server_cpu,
        flame: sampling.map(|s| s.finish(&give_up)),
    }))
}

/// Starts the driver threads, each with its share of the connections (and requests).
fn spawn(
    threads: usize,
    addr: SocketAddr,
    tls: Option<Arc<crate::transport::TlsClient>>,
    cfg: &BenchConfig,
    control: &Arc<Control>,
    clock: RunClock,
    tx: mpsc::Sender<ThreadMsg>,
) -> Result<Vec<JoinHandle<ThreadOutcome>>, RunError> {
    let mut handles = Vec::with_capacity(threads);
    for index in 0..threads {
        let plan = ThreadPlan {
            index,
            addr,
            tls: tls.clone(),
            connections: share(cfg.connections as u64, threads, index) as usize,
            budget: match cfg.stop() {
                StopAt::Requests(n) => Some(share(n, threads, index)),
                StopAt::Duration(_) => None,
            },
        };
        let (thread_cfg, thread_control, tx) = (cfg.clone(), control.clone(), tx.clone());
        let h = std::thread::Builder::new()
            .name(format!("nines-driver-{index}"))
            .spawn(move || run_thread(&plan, &thread_cfg, &thread_control, clock, Some(tx)))
            .map_err(|e| {
                // The threads already started must not wait for this one at the gate.
                control.request_stop(StopReason::Interrupted);
                RunError::Thread(e)
            })?;
        handles.push(h);
    }
    Ok(handles)
}

/// `total` split over `parts`, the remainder going to the first ones.
fn share(total: u64, parts: usize, index: usize) -> u64 {
    let parts = parts as u64;
    total / parts + u64::from((index as u64) < total % parts)
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
}
