//! The command line: clap structs whose defaults are the library's constants
//! (`nines_driver::config::defaults`), turned into a [`BenchConfig`] that the library validates.

use std::path::PathBuf;
use std::time::Duration;

use crate::request;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use nines_common::units::{parse_rate, ByteCount, HumanDuration};
use nines_common::usage::UsageError;
use nines_common::Protocol;
use nines_driver::config::{defaults, parse_start_at, BenchConfig, OpenLoop, StopAt};
use nines_driver::report::Format;
use nines_driver::schedule::Arrival;
use nines_driver::sweep::{self, RateLevel, SweepConfig};
use nines_driver::target::{self, WsMessage};
use nines_protocol::Op;

/// nines: measure TCP servers honestly, down to p99.99.
#[derive(Parser, Debug)]
#[command(name = "nines", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Load a server and report throughput and latency percentiles.
    ///
    /// Without TARGET, starts nines-server in-process on 127.0.0.1 and loads that.
    /// With --rate, load is open loop and latency is corrected for coordinated omission.
    Bench(Box<BenchArgs>),
    /// Load a nines-server briefly and show where its time goes: accept, read, process, write,
    /// overhead (from its phase counters, read before and after with the Stats op).
    ///
    /// Takes every bench option. Without TARGET, profiles an embedded server.
    Profile(Box<BenchArgs>),
    /// Find the knee: one closed-loop step per --connections level, then (with --rates) a short
    /// closed-loop run for the peak and one open-loop step per rate level; a table as steps
    /// finish, and the highest load whose p99 held.
    ///
    /// Takes every bench option; each step has its own warm-up and duration.
    Sweep(Box<SweepArgs>),
    /// Open connections at a steady rate up to --connections and hold them, each sending a
    /// timestamped message every --interval that the server echoes (the C10K test); reports
    /// connect and echo latency, failures by errno, losses, crashes and memory per connection.
    Storm(Box<crate::storm::StormArgs>),
    /// Add results from several driver processes or machines into one true distribution.
    ///
    /// Takes JSON results (`--json`) and HdrHistogram interval logs (`--hlog`). Histograms are
    /// added count by count, so the merged percentiles are true percentiles of every request,
    /// never averages of each part's percentiles.
    Merge(MergeArgs),
    /// Results side by side, the first as the baseline: throughput and every percentile with
    /// its relative change; with --repeat N, groups of N runs each, medians and spreads, and
    /// which changes are beyond run-to-run noise (exact Mann–Whitney U test, p < 0.05).
    Compare(CompareArgs),
    /// Print a saved result again, in any format.
    Report(ReportArgs),
    /// Misbehave at a server on purpose (idle, slowloris, never-reading or connect-and-drop
    /// clients) and report how it dealt with them; see docs/limits.md.
    Hostile(HostileArgs),
    /// Serve the JSON-lines benchmark node protocol on stdin/stdout (init, bench_run,
    /// bench_profile, bench_sweep); logs go to stderr. See docs/node.md.
    Node,
}

/// Files a result is written to, besides the summary on stdout.
#[derive(Args, Debug)]
pub struct OutputArgs {
    /// Write the whole result, histograms included, as JSON to FILE (atomically), or to stdout
    /// with `-`; `nines report` and `nines merge` read it.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the corrected latency distribution in HdrHistogram's .hgrm text format to FILE.
    #[arg(long, value_name = "FILE")]
    pub hdr_out: Option<PathBuf>,
    /// Write an HdrHistogram interval log (one histogram per second) to FILE.
    #[arg(long, value_name = "FILE")]
    pub hlog: Option<PathBuf>,
    /// Write a report directory (created if missing): summary.md (a table to paste in a pull
    /// request), results.csv, latency.hgrm, result.json and SVG plots; a sweep's holds its
    /// throughput-latency curve and a directory per step.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Results to add: JSON reports or .hlog interval logs.
    #[arg(required = true, value_name = "RESULT")]
    pub results: Vec<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Saved results (JSON reports): one per configuration, or N per configuration in order
    /// with --repeat N (a1 a2 a3 b1 b2 b3).
    #[arg(required = true, num_args = 2.., value_name = "RESULT")]
    pub results: Vec<PathBuf>,
    /// Runs per configuration.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// A Markdown table instead of aligned text.
    #[arg(long)]
    pub markdown: bool,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Saved results (JSON reports or .hlog interval logs).
    #[arg(required = true, value_name = "RESULT")]
    pub results: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report directory (summary.md, results.csv, latency.hgrm, result.json and the
    /// SVG plots; a sweep's with a directory per step) to DIR instead of printing.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct HostileArgs {
    /// Server to pester, as host:port.
    pub target: String,
    /// How the clients misbehave.
    #[arg(long, value_enum)]
    pub mode: nines_driver::hostile::Mode,
    /// Connections kept open (replaced when the server closes them).
    #[arg(short, long, default_value_t = 100)]
    pub connections: usize,
    /// connect-drop: connections opened and closed per second.
    #[arg(short = 'R', long, default_value = "100", value_parser = parse_rate)]
    pub rate: f64,
    /// How long.
    #[arg(short, long, default_value_t = HumanDuration(Duration::from_secs(10)))]
    pub duration: HumanDuration,
    /// Write the summary as JSON to FILE, or to stdout with `-`.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Server to load: host:port (nines or --protocol echo; host alone means port 9999), or
    /// http://host:port/path, ws://host:port/path, redis://host:port. Omit to embed a server.
    pub target: Option<String>,
    /// Driver threads, each with its own event loop [default: CPUs, or half of them when the
    /// server is embedded].
    #[arg(short, long)]
    pub threads: Option<usize>,
    /// Connections, spread over the threads (sweep: a list of levels, e.g. 1,8,64,512).
    #[arg(short, long, default_value_t = Levels(vec![defaults::CONNECTIONS]), value_parser = Levels::parse)]
    pub connections: Levels,
    /// Requests in flight per connection at most.
    #[arg(short, long, default_value_t = defaults::PIPELINE)]
    pub pipeline: usize,
    /// Open loop: requests per second in total (50000, 50k, 1.5m), due on a schedule whatever
    /// the server does; latency is measured from when each request was due. Without it, load
    /// is closed loop.
    #[arg(short = 'R', long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Open-loop arrivals.
    #[arg(long, value_enum, default_value_t = Arrival::default(), requires = "rate")]
    pub arrival: Arrival,
    /// Seed of the Poisson schedule: the same seed gives the same arrivals.
    #[arg(long, default_value_t = defaults::SEED)]
    pub seed: u64,
    /// Warn when the driver's own schedule lag p99 is above this (it, not the server, is slow).
    #[arg(long, default_value_t = HumanDuration(defaults::LAG_THRESHOLD))]
    pub lag_threshold: HumanDuration,
    /// How long to measure, e.g. 10s, 500ms, 2m [default: 10s; 3s for profile].
    #[arg(short, long, conflicts_with = "requests")]
    pub duration: Option<HumanDuration>,
    /// Stop after exactly this many replies instead of after --duration.
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Load applied before measuring, reported apart and discarded, e.g. 2s, 0s.
    #[arg(short, long, default_value_t = HumanDuration(defaults::WARMUP))]
    pub warmup: HumanDuration,
    /// Request payload (echo), or reply size asked for (--op source), e.g. 64, 4k.
    #[arg(long, default_value_t = ByteCount(defaults::PAYLOAD_BYTES))]
    pub payload: ByteCount,
    /// nines operation.
    #[arg(long, default_value_t = Op::Echo, value_parser = op_parser())]
    pub op: Op,
    /// CPU microseconds each --op work request asks the server to spend.
    #[arg(long, default_value_t = defaults::WORK_US)]
    pub work_us: u32,
    /// Wire protocol [default: the target URL's scheme, else nines].
    #[arg(long, value_enum)]
    pub protocol: Option<Protocol>,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Stop the run (exit status 1, results kept) once this many errors have been counted.
    #[arg(long, default_value_t = defaults::MAX_ERRORS)]
    pub max_errors: u64,
    /// How long connecting may take.
    #[arg(long, default_value_t = HumanDuration(defaults::CONNECT_TIMEOUT))]
    pub connect_timeout: HumanDuration,
    /// A request unanswered this long counts as an error (timeout) and frees its slot; in open
    /// loop, a request still unsent this long after it was due counts as unsent.
    #[arg(long, default_value_t = HumanDuration(defaults::REQUEST_TIMEOUT))]
    pub timeout: HumanDuration,
    /// How long to wait for replies in flight when the measurement ends.
    #[arg(long, default_value_t = HumanDuration(defaults::DRAIN_TIMEOUT))]
    pub drain_timeout: HumanDuration,
    /// Worker threads of the embedded server [default: half the CPUs].
    #[arg(long)]
    pub server_workers: Option<usize>,
    /// Start the load at this time, after connecting: seconds since the epoch (as `date +%s`
    /// prints) or +DURATION; lets drivers on several machines start together.
    #[arg(long, value_parser = parse_start_at)]
    pub start_at: Option<f64>,
    /// One JSON line per second of measurement (throughput, p50/p90/p99/p99.9/max, errors)
    /// to FILE, or to stdout with `-` (the summary then goes to stderr), for dashboards.
    #[arg(long, value_name = "FILE")]
    pub stats_stream: Option<PathBuf>,
    /// A gate checked at the end: clauses like p99<=2ms, p99.9<=10ms, errors<=0.1%,
    /// rps>=50000, comma-separated; each printed PASS/FAIL with its measured value; exit 3 when
    /// one fails.
    #[arg(long, value_name = "EXPR", value_parser = |s: &str| nines_driver::slo::parse(s).map(SloExpr))]
    pub slo: Option<SloExpr>,
    /// Judge the SLO even when the run's own checks say the driver shaped the figures.
    #[arg(long, requires = "slo")]
    pub allow_invalid: bool,
    /// Connect from these local addresses in turn: addresses and IPv4 ranges,
    /// comma-separated (127.0.0.2-127.0.0.50), for more connections than one address has
    /// ephemeral ports.
    #[arg(long, value_name = "ADDRS", value_parser = Sources::parse)]
    pub source: Option<Sources>,
    /// Print progress every second even when stderr is not a terminal.
    #[arg(long, conflicts_with = "quiet")]
    pub progress: bool,
    /// No progress lines.
    #[arg(short, long)]
    pub quiet: bool,
}

/// What HTTP, WebSocket and Redis requests carry.
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "HTTP, WebSocket and Redis")]
pub struct HttpArgs {
    /// HTTP request method.
    #[arg(long, value_name = "METHOD")]
    pub method: Option<String>,
    /// Extra request header, `Name: value` (repeatable; also sent with the WebSocket upgrade).
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = target::parse_header)]
    pub headers: Vec<String>,
    /// Send this file's bytes as the HTTP request body.
    #[arg(long, value_name = "FILE")]
    pub body: Option<PathBuf>,
    /// HTTP statuses counted as answers besides 2xx, e.g. 404,3xx (others are `rejected`).
    #[arg(long, value_name = "CODES", value_parser = |s: &str| target::parse_accept(s).map(Codes))]
    pub accept: Option<Codes>,
    /// WebSocket message type.
    #[arg(long, value_enum, value_name = "TYPE")]
    pub message: Option<WsMessage>,
    /// Redis command sent, e.g. "SET key:__rand__ __data__" (`__rand__`: a key number below
    /// --keyspace; `__data__`: --payload bytes) [default: PING].
    #[arg(long, value_name = "COMMAND")]
    pub command: Option<String>,
    /// Distinct key numbers `__rand__` takes.
    #[arg(long, default_value_t = defaults::KEYSPACE)]
    pub keyspace: u64,
}

/// Connection levels: one number, or (sweep) several, comma-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Levels(pub Vec<usize>);

impl Levels {
    fn parse(s: &str) -> Result<Levels, String> {
        let v: Result<Vec<usize>, _> = s.split(',').map(|p| p.trim().parse::<usize>()).collect();
        match v {
            Ok(v) if !v.is_empty() => Ok(Levels(v)),
            _ => Err(format!(
                "`{s}` is not a number of connections (or, for sweep, a list: 1,8,64)"
            )),
        }
    }
}

impl std::fmt::Display for Levels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&s.join(","))
    }
}

/// Open-loop levels of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates(pub Vec<RateLevel>);

impl Rates {
    fn parse(s: &str) -> Result<Rates, String> {
        s.split(',')
            .map(RateLevel::parse)
            .collect::<Result<_, _>>()
            .map(Rates)
    }
}

/// `nines sweep`: every bench flag, with levels.
#[derive(Args, Debug)]
pub struct SweepArgs {
    #[command(flatten)]
    pub bench: BenchArgs,
    /// Open-loop levels, run after the connection levels on the largest of them: shares of the
    /// peak found by a short closed-loop run (50%, 110%), or rates (20k).
    #[arg(long, value_name = "LEVELS", value_parser = Rates::parse)]
    pub rates: Option<Rates>,
    /// The knee is the highest load whose p99 stays at or under this [default: 3x the lowest
    /// load's p99].
    #[arg(long, value_name = "DURATION")]
    pub slo_p99: Option<HumanDuration>,
    /// How long the peak probe measures.
    #[arg(long, default_value_t = HumanDuration(sweep::DEFAULT_PEAK_DURATION))]
    pub peak_duration: HumanDuration,
}

impl SweepArgs {
    /// The sweep the flags describe.
    pub fn config(&self) -> Result<SweepConfig, UsageError> {
        if self.bench.rate.is_some() {
            return Err(UsageError::new(
                "--rate",
                "a sweep takes --rates LEVELS (e.g. 50%,90%,20k)",
            ));
        }
        let base = self.bench.config(defaults::DURATION)?;
        // Without --rates, every --connections value is a closed-loop step; with --rates and
        // only the default connections, the rates run alone on them.
        let explicit =
            self.bench.connections.0 != vec![defaults::CONNECTIONS] || self.rates.is_none();
        Ok(SweepConfig {
            connections: if explicit {
                self.bench.connections.0.clone()
            } else {
                Vec::new()
            },
            rates: self.rates.clone().map(|r| r.0).unwrap_or_default(),
            peak_duration: self.peak_duration.0,
            slo_p99: self.slo_p99.map(|d| d.0),
            knee_multiple: sweep::DEFAULT_KNEE_MULTIPLE,
            base,
        })
    }
}

/// The clauses of `--slo` (a newtype: one value holding a list).
#[derive(Debug, Clone)]
pub struct SloExpr(pub Vec<nines_driver::slo::Clause>);

/// Local addresses from `--source` (a newtype: one value holding a list).
#[derive(Debug, Clone)]
pub struct Sources(pub Vec<std::net::IpAddr>);

impl Sources {
    fn parse(s: &str) -> Result<Sources, String> {
        nines_driver::engine::socket::parse_sources(s).map(Sources)
    }
}

/// Status codes from `--accept` (a newtype: one value holding a list, not a repeated flag).
#[derive(Debug, Clone)]
pub struct Codes(pub Vec<u16>);

/// The nines ops by name, listed in `--help`.
fn op_parser() -> impl TypedValueParser<Value = Op> {
    PossibleValuesParser::new(Op::ALL.map(Op::name))
        .try_map(|s: String| Op::from_name(&s).ok_or("not a nines op"))
}

impl BenchArgs {
    /// The run configuration the flags describe (validated by the library); an error here is
    /// a target or flag that cannot even be read.
    pub fn config(&self, default_duration: Duration) -> Result<BenchConfig, UsageError> {
        let embedded = self.target.is_none();
        Ok(BenchConfig {
            target: self.target.clone(),
            threads: self.threads.unwrap_or_else(|| defaults::threads(embedded)),
            connections: self.connections.0[0],
            pipeline: self.pipeline,
            open_loop: self.rate.map(|rate_per_s| OpenLoop {
                rate_per_s,
                arrival: self.arrival,
                seed: self.seed,
            }),
            lag_threshold: self.lag_threshold.0,
            stop: self.requests.map_or(
                StopAt::Duration(self.duration.map_or(default_duration, |d| d.0)),
                StopAt::Requests,
            ),
            warmup: self.warmup.0,
            request: request::spec(&request::Wire {
                target: self.target.as_deref(),
                protocol: self.protocol,
                http: &self.http,
                payload: self.payload.0,
                op: self.op,
                work_us: self.work_us,
            })?,
            max_errors: self.max_errors,
            connect_timeout: self.connect_timeout.0,
            request_timeout: self.timeout.0,
            drain_timeout: self.drain_timeout.0,
            server_workers: self.server_workers.unwrap_or_else(defaults::server_workers),
            start_at_unix_s: self.start_at,
            source_addrs: self.source.clone().map(|s| s.0).unwrap_or_default(),
            storm: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_left_out_give_the_library_defaults() {
        let cli = Cli::try_parse_from(["nines", "bench"]).unwrap();
        let Command::Bench(a) = cli.command else {
            panic!("bench")
        };
        assert_eq!(
            a.config(defaults::DURATION).unwrap(),
            BenchConfig::default()
        );
    }
}
