//! `nines`: the command line. Parses flags into a [`BenchConfig`], runs it, renders the report.
//! Exit status: 0 the run completed, 1 it failed or was cut short (results still written),
//! 2 bad usage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use nines_driver::config::{parse_duration, parse_start_at, BenchConfig, OpenLoop, StopAt};
use nines_driver::profile::{profile, render_profile};
use nines_driver::report::hgrm::write_hgrm;
use nines_driver::report::hlog::{merge_logs, HlogWriter};
use nines_driver::report::{
    render_merge_text, render_text, to_json, write_atomic, write_json, LatencySummary,
};
use nines_driver::run::{run_with, RunHooks};
use nines_driver::schedule::Arrival;
use nines_driver::target::{ProtocolKind, RequestSpec};
use nines_protocol::Op;
use nines_server::config::{available_cpus, parse_bytes};

/// nines: measure TCP servers honestly, down to p99.99.
#[derive(Parser, Debug)]
#[command(name = "nines", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load a server and report throughput and latency percentiles.
    ///
    /// Without TARGET, starts nines-server in-process on 127.0.0.1 and loads that.
    /// With --rate, load is open loop and latency is corrected for coordinated omission.
    Bench(Box<BenchArgs>),
    /// Merge interval logs (.hlog) from several driver machines into one distribution.
    ///
    /// Histograms are added count by count, so the merged percentiles are true percentiles of
    /// every request, never averages of each machine's percentiles.
    Merge(MergeArgs),
    /// Load a nines-server briefly and show where its time goes: accept, read, process, write,
    /// overhead (from its phase counters, read before and after with the Stats op).
    ///
    /// Takes every bench option. Without TARGET, profiles an embedded server.
    Profile(Box<BenchArgs>),
    /// Serve the JSON-lines benchmark node protocol on stdin/stdout (init, bench_run,
    /// bench_profile, bench_sweep); logs go to stderr. See docs/node.md.
    Node,
}

#[derive(Args, Debug)]
struct MergeArgs {
    /// Interval logs written by `nines bench --hlog`.
    #[arg(required = true)]
    logs: Vec<PathBuf>,
    /// Write the merged summary as JSON to FILE, or to stdout with `-`.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the merged percentile distribution (.hgrm) to FILE.
    #[arg(long, value_name = "FILE")]
    hdr_out: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Server to load, as host:port (host alone means port 9999). Omit to embed a server.
    target: Option<String>,
    /// Driver threads, each with its own event loop [default: CPUs, or half of them when the
    /// server is embedded].
    #[arg(short, long)]
    threads: Option<usize>,
    /// Connections, spread over the threads.
    #[arg(short, long, default_value_t = 64)]
    connections: usize,
    /// Requests in flight per connection at most.
    #[arg(short, long, default_value_t = 1)]
    pipeline: usize,
    /// Open loop: requests per second in total, due on a schedule whatever the server does;
    /// latency is measured from when each request was due. Without it, load is closed loop.
    #[arg(short = 'R', long)]
    rate: Option<f64>,
    /// Open-loop arrivals: constant (evenly spaced) or poisson (exponential gaps).
    #[arg(long, default_value = "constant", value_parser = |s: &str| s.parse::<Arrival>(), requires = "rate")]
    arrival: Arrival,
    /// Seed of the Poisson schedule: the same seed gives the same arrivals.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Warn when the driver's own schedule lag p99 is above this (it, not the server, is slow).
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
    lag_threshold: Duration,
    /// How long to measure, e.g. 10s, 500ms, 2m [default: 10s; 3s for profile].
    #[arg(short, long, value_parser = parse_duration, conflicts_with = "requests")]
    duration: Option<Duration>,
    /// Stop after exactly this many replies instead of after --duration.
    #[arg(short = 'n', long)]
    requests: Option<u64>,
    /// Load applied before measuring, reported apart and discarded, e.g. 2s, 0s.
    #[arg(short, long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Request payload in bytes (echo), or reply size asked for (--op source), e.g. 64, 4k.
    #[arg(long, default_value = "64", value_parser = parse_bytes)]
    payload: usize,
    /// nines operation: echo, work, source or stats.
    #[arg(long, default_value = "echo", value_parser = parse_op)]
    op: Op,
    /// CPU microseconds each --op work request asks the server to spend.
    #[arg(long, default_value_t = 10)]
    work_us: u32,
    /// Wire protocol: nines (nines-server) or echo (any byte-echo server).
    #[arg(long, default_value = "nines", value_parser = |s: &str| s.parse::<ProtocolKind>())]
    protocol: ProtocolKind,
    /// Write the full report as JSON to FILE (atomically), or to stdout with `-`.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the corrected latency distribution in HdrHistogram's .hgrm text format to FILE.
    #[arg(long, value_name = "FILE")]
    hdr_out: Option<PathBuf>,
    /// Write an HdrHistogram interval log (one histogram per second) to FILE, for `nines merge`
    /// and HdrHistogram's tools.
    #[arg(long, value_name = "FILE")]
    hlog: Option<PathBuf>,
    /// Stop the run (exit status 1, results kept) once this many errors have been counted.
    #[arg(long, default_value_t = 100)]
    max_errors: u64,
    /// How long connecting may take.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// A request unanswered this long counts as an error (timeout) and frees its slot.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// How long to wait for replies in flight when the measurement ends.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    drain_timeout: Duration,
    /// Worker threads of the embedded server [default: half the CPUs].
    #[arg(long)]
    server_workers: Option<usize>,
    /// Start the load at this time, after connecting: seconds since the epoch (as `date +%s`
    /// prints) or +DURATION; lets drivers on several machines start together.
    #[arg(long, value_parser = parse_start_at)]
    start_at: Option<f64>,
    /// Print progress every second even when stderr is not a terminal.
    #[arg(long, conflicts_with = "quiet")]
    progress: bool,
    /// No progress lines.
    #[arg(short, long)]
    quiet: bool,
}

fn parse_op(s: &str) -> Result<Op, String> {
    Op::ALL
        .into_iter()
        .find(|op| op.name() == s)
        .ok_or_else(|| format!("unknown op `{s}` (expected echo, work, source or stats)"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Bench(args) => bench(*args),
        Command::Merge(args) => merge(args),
        Command::Profile(args) => profile_cmd(*args),
        Command::Node => node_cmd(),
    }
}

fn merge(a: MergeArgs) -> ExitCode {
    let m = match merge_logs(&a.logs) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("nines: error: {e}");
            return ExitCode::from(1);
        }
    };
    let span_s = (m.last_unix_s - m.first_unix_s).max(0.0);
    let summary = serde_json::json!({
        "files": a.logs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "intervals": m.intervals,
        "requests": m.histogram.len(),
        "duration_s": span_s,
        "throughput_rps": if span_s > 0.0 { m.histogram.len() as f64 / span_s } else { 0.0 },
        "latency_us": LatencySummary::from_histogram(&m.histogram),
    });
    let to_stdout = a.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
    let text = render_merge_text(&a.logs, m.intervals, &m.histogram, span_s);
    if to_stdout {
        eprint!("{text}");
        println!("{summary:#}");
    } else {
        print!("{text}");
    }
    if let Some(p) = a.json.as_deref().filter(|_| !to_stdout) {
        if let Err(e) = write_atomic(p, format!("{summary:#}\n").as_bytes()) {
            eprintln!("nines: error: cannot write {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    if let Some(p) = &a.hdr_out {
        if let Err(e) = write_hgrm(&m.histogram, p) {
            eprintln!("nines: error: cannot write {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}

/// The run configuration the flags describe.
fn config_from(a: &BenchArgs, default_duration: Duration) -> BenchConfig {
    let embedded = a.target.is_none();
    let half = (available_cpus() / 2).max(1);
    BenchConfig {
        threads: a
            .threads
            .unwrap_or(if embedded { half } else { available_cpus() }),
        target: a.target.clone(),
        connections: a.connections,
        pipeline: a.pipeline,
        open_loop: a.rate.map(|rate_per_s| OpenLoop {
            rate_per_s,
            arrival: a.arrival,
            seed: a.seed,
        }),
        lag_threshold: a.lag_threshold,
        stop: a.requests.map_or(
            StopAt::Duration(a.duration.unwrap_or(default_duration)),
            StopAt::Requests,
        ),
        warmup: a.warmup,
        request: RequestSpec {
            protocol: a.protocol,
            op: a.op,
            payload_bytes: a.payload,
            work_us: a.work_us,
        },
        max_errors: a.max_errors,
        connect_timeout: a.connect_timeout,
        request_timeout: a.timeout,
        drain_timeout: a.drain_timeout,
        server_workers: a.server_workers.unwrap_or(half),
        start_at_unix_s: a.start_at,
    }
}

/// Raises the descriptor limit and turns Ctrl-C/SIGTERM into a stop request (a second one exits).
fn prepare(a: &BenchArgs) -> RunHooks {
    // Every connection is a descriptor (twice over when the server is embedded).
    if let Err(e) = nines_server::limits::raise_nofile() {
        eprintln!("nines: warning: could not raise RLIMIT_NOFILE: {e}");
    }
    let interrupt = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second Ctrl-C exits at once; the first stops the run and keeps its results.
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, interrupt.clone());
        let _ = signal_hook::flag::register(sig, interrupt.clone());
    }
    RunHooks {
        interrupt: Some(interrupt),
        progress: !a.quiet && (a.progress || RunHooks::default_progress()),
    }
}

fn node_cmd() -> ExitCode {
    if let Err(e) = nines_server::limits::raise_nofile() {
        eprintln!("nines node: warning: could not raise RLIMIT_NOFILE: {e}");
    }
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    match nines_driver::node::Node::new().serve(stdin.lock(), stdout.lock()) {
        Ok(()) => ExitCode::SUCCESS,
        // The harness went away: nothing left to answer.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nines node: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn profile_cmd(a: BenchArgs) -> ExitCode {
    let cfg = config_from(&a, Duration::from_secs(3));
    let hooks = prepare(&a);
    let p = match profile(&cfg, &hooks) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("nines: error: {e}");
            return ExitCode::from(1);
        }
    };
    let to_stdout = a.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
    let text = render_profile(&p);
    let json = serde_json::to_string_pretty(&p).expect("profile serializes");
    if to_stdout {
        eprint!("{text}");
        println!("{json}");
    } else {
        print!("{text}");
    }
    if let Some(path) = a.json.as_deref().filter(|_| !to_stdout) {
        if let Err(e) = write_atomic(path, format!("{json}\n").as_bytes()) {
            eprintln!("nines: error: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if p.bench.completed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn bench(a: BenchArgs) -> ExitCode {
    let cfg = config_from(&a, Duration::from_secs(10));
    let hooks = prepare(&a);
    let mut hlog = a.hlog.as_deref().map(HlogWriter::new);
    let mut hlog_error = None;
    let result = run_with(&cfg, &hooks, |iv| {
        if let Some(w) = hlog.as_mut() {
            if let Err(e) = w.append(iv) {
                hlog_error.get_or_insert(e);
            }
        }
    });
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("nines: error: {e}");
            return ExitCode::from(1);
        }
    };
    let mut failed = false;
    if let (Some(w), Some(path)) = (hlog, a.hlog.as_deref()) {
        if let Some(e) = hlog_error
            .take()
            .map(Err)
            .unwrap_or_else(|| w.finish())
            .err()
        {
            eprintln!("nines: error: cannot write {}: {e}", path.display());
            failed = true;
        }
    }
    if let Some(path) = a.hdr_out.as_deref() {
        if let Err(e) = write_hgrm(&report.histogram, path) {
            eprintln!("nines: error: cannot write {}: {e}", path.display());
            failed = true;
        }
    }
    let json_to_stdout = a.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
    let summary = render_text(&report);
    if json_to_stdout {
        eprint!("{summary}");
        println!("{}", to_json(&report));
    } else {
        print!("{summary}");
    }
    if let Some(path) = a.json.as_deref().filter(|_| !json_to_stdout) {
        if let Err(e) = write_json(&report, path) {
            eprintln!("nines: error: cannot write {}: {e}", path.display());
            failed = true;
        }
    }
    if report.completed() && !failed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
