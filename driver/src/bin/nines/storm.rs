//! `nines storm`: the flags, the run (one process, or `--processes N` children whose Reports
//! are merged), a live line per second, and the seed's statistics at the end.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use clap::Args;
use nines_common::units::{parse_rate, thousands, ByteCount, HumanDuration};
use nines_common::usage::{exit_with, UsageError};
use nines_common::Protocol;
use nines_driver::config::{defaults, BenchConfig, StopAt, StormPlan};
use nines_driver::observer::Event;
use nines_driver::report::{load, merge, Report};
use nines_driver::run::{Hooks, RunError};
use nines_protocol::Op;

use crate::args::{HttpArgs, OutputArgs, Sources};
use crate::request;

/// Connections opened per second by default: one per millisecond, as in the seed's test.
const CONNECT_RATE: f64 = 1000.0;
/// Connect timeout of a storm by default (the seed's 2 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Args, Debug)]
pub struct StormArgs {
    /// Server to storm: host:port (nines, or --protocol echo), or ws://host:port/path. Omit to
    /// embed a server (it then shares this process's descriptors).
    pub target: Option<String>,
    /// Connections to open.
    #[arg(short, long, default_value_t = 1000)]
    pub connections: usize,
    /// Connections opened per second (1000: one per millisecond).
    #[arg(long, default_value_t = CONNECT_RATE, value_parser = parse_rate)]
    pub connect_rate: f64,
    /// Each open connection sends one timestamped message this often; the server echoes it.
    #[arg(long, default_value_t = HumanDuration(Duration::from_secs(1)))]
    pub interval: HumanDuration,
    /// How long every connection is held once the last has been started.
    #[arg(short, long, default_value_t = HumanDuration(defaults::DURATION))]
    pub duration: HumanDuration,
    /// Wire protocol: nines, echo or ws [default: the target URL's scheme, else nines].
    #[arg(long, value_enum)]
    pub protocol: Option<Protocol>,
    /// Message payload bytes.
    #[arg(long, default_value_t = ByteCount(defaults::PAYLOAD_BYTES))]
    pub payload: ByteCount,
    /// A connect (and handshake) not done in this long is a connection timeout.
    #[arg(long, default_value_t = HumanDuration(CONNECT_TIMEOUT))]
    pub connect_timeout: HumanDuration,
    /// A message unanswered this long is an error (timeout).
    #[arg(long, default_value_t = HumanDuration(defaults::REQUEST_TIMEOUT))]
    pub timeout: HumanDuration,
    /// Driver threads [default: CPUs].
    #[arg(short, long)]
    pub threads: Option<usize>,
    /// Warn (and fail an --slo gate) when the driver's send lag p99 is above this: messages
    /// sent late carry the driver's lateness in their echo latency.
    #[arg(long, default_value_t = HumanDuration(defaults::LAG_THRESHOLD))]
    pub lag_threshold: HumanDuration,
    /// Connect from these local addresses in turn (127.0.0.2-127.0.0.50): past one address's
    /// ephemeral ports.
    #[arg(long, value_name = "ADDRS", value_parser = |s: &str| nines_driver::engine::socket::parse_sources(s).map(Sources))]
    pub source: Option<Sources>,
    /// Spread the connections over N driver processes (each with its own descriptor limit);
    /// their Reports are merged into one.
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Start at this time (seconds since the epoch, or +DURATION): storms from several
    /// machines or processes start together.
    #[arg(long, value_parser = nines_driver::config::parse_start_at)]
    pub start_at: Option<f64>,
    /// A gate checked at the end, as for bench (p99<=2ms,errors<=0%,...): echo latency,
    /// errors and message rate; exit 3 when a clause fails.
    #[arg(long, value_name = "EXPR", value_parser = |s: &str| nines_driver::slo::parse(s).map(crate::args::SloExpr))]
    pub slo: Option<crate::args::SloExpr>,
    /// Judge the SLO even when the run's own checks say the driver shaped the figures.
    #[arg(long, requires = "slo")]
    pub allow_invalid: bool,
    /// No progress lines.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print a line per second even when stderr is not a terminal.
    #[arg(long, conflicts_with = "quiet")]
    pub progress: bool,
}

impl StormArgs {
    /// The run the flags describe: a storm plan on a bench config with no warm-up (connecting
    /// is what is measured) that lasts the ramp plus the hold.
    pub fn config(&self) -> Result<BenchConfig, UsageError> {
        let plan = StormPlan {
            connect_rate: self.connect_rate,
            interval: self.interval.0,
            hold: self.duration.0,
        };
        let request = request::spec(&request::Wire {
            target: self.target.as_deref(),
            protocol: self.protocol,
            http: &self.http,
            payload: self.payload.0,
            op: Op::Echo,
            work_us: 0,
        })?;
        let embedded = self.target.is_none();
        Ok(BenchConfig {
            target: self.target.clone(),
            threads: self.threads.unwrap_or_else(|| defaults::threads(embedded)),
            connections: self.connections,
            stop: StopAt::Duration(plan.ramp(self.connections).saturating_add(plan.hold)),
            warmup: Duration::ZERO,
            request,
            // Failures are what a storm reports, not a reason to stop it.
            max_errors: u64::MAX,
            connect_timeout: self.connect_timeout.0,
            request_timeout: self.timeout.0,
            source_addrs: self.source.clone().map(|s| s.0).unwrap_or_default(),
            storm: Some(plan),
            start_at_unix_s: self.start_at,
            lag_threshold: self.lag_threshold.0,
            ..BenchConfig::default()
        })
    }
}

/// `nines storm`.
pub fn storm_cmd(a: &StormArgs) -> ExitCode {
    let cfg = match a.config() {
        Ok(c) => c,
        Err(e) => exit_with(&[e]),
    };
    let usage = cfg.validate();
    if !usage.is_empty() {
        exit_with(&usage);
    }
    if a.processes == 0 || a.processes > 64 {
        exit_with(&[UsageError::range("--processes", a.processes, 1, 64, "")]);
    }
    crate::raise_nofile();
    let report = if a.processes > 1 {
        match spread(a, &cfg) {
            Ok(r) => r,
            Err(e) => return crate::fail(&e),
        }
    } else {
        let live = !a.quiet && (a.progress || std::io::stderr().is_terminal());
        let mut line = Live::default();
        let mut observer = |e: &Event<'_>| {
            if live {
                line.print(e);
            }
        };
        let mut hooks = Hooks {
            interrupt: Some(crate::interrupt_on_signals()),
            observer: Some(&mut observer),
        };
        match nines_driver::storm::run_storm(&cfg, &mut hooks) {
            Ok(r) => r,
            Err(RunError::Usage(errors)) => exit_with(&errors),
            Err(e) => return crate::fail(&e),
        }
    };
    let mut report = report;
    if let Some(slo) = &a.slo {
        report.slo = Some(nines_driver::slo::check(&slo.0, &report, a.allow_invalid));
    }
    let written = crate::output::emit(&report, &a.output, false);
    crate::finish(&report, written)
}

/// A line per second: connections open and failed so far, messages, echo p99.
#[derive(Default)]
struct Live {
    open: u64,
}

impl Live {
    fn print(&mut self, e: &Event<'_>) {
        if let Event::Interval {
            interval: iv,
            elapsed_s,
            errors,
        } = e
        {
            self.open = (self.open + iv.opened).saturating_sub(iv.lost);
            let p99 = if iv.hist.is_empty() {
                "-".to_string()
            } else {
                format!("{:.0} µs", iv.hist.value_at_quantile(0.99) as f64 / 1000.0)
            };
            eprintln!(
                "[{elapsed_s:>6.1}s] open {:>9}  +{:<7} lost {:<6} echoes {:>8}  p99 {p99:>10}  errors {}",
                thousands(self.open),
                thousands(iv.opened),
                thousands(iv.lost),
                thousands(iv.hist.len()),
                thousands(*errors)
            );
        }
    }
}

/// `--processes N`: N child `nines storm` processes, each with its share of the connections
/// and of the connect rate (and of `--source`), started together; their JSON Reports merged.
fn spread(a: &StormArgs, cfg: &BenchConfig) -> Result<Report, String> {
    let dir = std::env::temp_dir().join(format!("nines-storm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let start_at = nines_driver::clock::unix_now_s() + 2.0;
    let n = a.processes;
    let sources = &cfg.source_addrs;
    let mut children = Vec::new();
    for i in 0..n {
        let share = a.connections / n + usize::from(i < a.connections % n);
        let json: PathBuf = dir.join(format!("part-{i}.json"));
        let mut cmd = Command::new(&exe);
        cmd.arg("storm");
        if let Some(t) = &a.target {
            cmd.arg(t);
        }
        cmd.args(["-c", &share.to_string()])
            .args(["--connect-rate", &(a.connect_rate / n as f64).to_string()])
            .args([
                "--interval",
                &a.interval.to_string(),
                "-d",
                &a.duration.to_string(),
            ])
            .args(["--payload", &a.payload.0.to_string()])
            .args(["--connect-timeout", &a.connect_timeout.to_string()])
            .args(["--lag-threshold", &a.lag_threshold.to_string()])
            .args(["--timeout", &a.timeout.to_string(), "-q", "--json"])
            .arg(&json)
            .args(["--start-at", &start_at.to_string()]);
        if let Some(p) = a.protocol {
            cmd.args(["--protocol", &p.to_string()]);
        }
        if let Some(t) = a.threads {
            cmd.args(["-t", &t.to_string()]);
        }
        // What a storm's WebSocket messages and upgrade carry.
        if let Some(m) = a.http.message {
            cmd.args(["--message", &m.to_string()]);
        }
        for h in &a.http.headers {
            cmd.args(["-H", h]);
        }
        // Each child takes every n-th source address.
        let mine: Vec<String> = sources
            .iter()
            .skip(i)
            .step_by(n)
            .map(ToString::to_string)
            .collect();
        if !mine.is_empty() {
            cmd.args(["--source", &mine.join(",")]);
        }
        cmd.stdout(Stdio::null());
        children.push((
            cmd.spawn()
                .map_err(|e| format!("cannot start a storm process: {e}"))?,
            json,
        ));
    }
    let mut parts = Vec::new();
    for (mut child, json) in children {
        let status = child.wait().map_err(|e| e.to_string())?;
        match load(&json) {
            Ok(r) => parts.push((json.display().to_string(), r)),
            Err(e) => return Err(format!("a storm process ({status}) left no result: {e}")),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    merge(parts).map_err(|e| e.to_string())
}
