//! Where results go (files, a report directory), the SLO gate, and what is printed while a run
//! goes (progress, the per-second stats stream).

use std::path::{Path, PathBuf};

use clap::Args;
use nines_common::usage::UsageError;
use nines_driver::config::{defaults, FlameSpec, Unwind};
use nines_driver::report::slo;

/// Files a result is written to, besides the summary on stdout.
#[derive(Args, Debug)]
#[command(next_help_heading = "Output")]
pub struct OutputFlags {
    /// Write the whole result, histograms included, as JSON to FILE (atomically), or to stdout
    /// with `-`; `nines report`, `merge` and `compare` read it.
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

/// A flame graph of the target over the measured window (bench, storm, sweep).
#[derive(Args, Debug)]
#[command(next_help_heading = "Output")]
pub struct FlameFlags {
    /// Sample the target's stacks with perf over exactly the measured window (warm-up and
    /// drain left out) and draw its flame graph to FILE (an SVG; `--report DIR` gets flame.svg
    /// too); the hottest frames go in the summary and the JSON. The target must be on this
    /// machine (a server found by its port, or the embedded one).
    #[arg(long, value_name = "FILE")]
    pub flame: Option<PathBuf>,
    /// Samples a second perf takes of each of the target's threads while it is on a CPU.
    #[arg(long, value_name = "HZ", requires = "flame", default_value_t = defaults::FLAME_HZ,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(defaults::MAX_FLAME_HZ)))]
    pub flame_hz: u32,
    /// How perf unwinds stacks: dwarf (works through libc and std, which have no frame
    /// pointers) or fp (frame pointers: cheaper, stacks break in code built without them).
    #[arg(long, value_name = "HOW", requires = "flame", value_enum, default_value_t = UnwindArg::Dwarf)]
    pub flame_unwind: UnwindArg,
}

impl FlameFlags {
    /// How the target is sampled, when `--flame` asks for a flame graph.
    pub fn flame_spec(&self) -> Option<FlameSpec> {
        self.flame.as_ref().map(|_| FlameSpec {
            hz: self.flame_hz,
            unwind: match self.flame_unwind {
                UnwindArg::Fp => Unwind::FramePointers,
                UnwindArg::Dwarf => Unwind::Dwarf,
            },
        })
    }

    /// The file `--flame` writes, for [`OutputFlags::check_with`].
    pub fn file(&self) -> (&'static str, Option<&Path>) {
        ("--flame", self.flame.as_deref())
    }
}

/// `--flame-unwind`'s values.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnwindArg {
    /// DWARF call frame information.
    Dwarf,
    /// Frame pointers.
    Fp,
}

impl OutputFlags {
    /// Checks, before any run, that each file can be written where asked: its directory exists
    /// and takes a file (probed: a read-only or full file system, a missing permission), no two
    /// outputs are the same path, and the report directory is a directory name (a run is not
    /// spent to find out a path was mistyped or its results have nowhere to go).
    pub fn check(&self) -> Result<(), Vec<UsageError>> {
        self.check_with(&[])
    }

    /// [`OutputFlags::check`] with `extra` files (a flag and its path) beside these.
    pub fn check_with(
        &self,
        extra: &[(&'static str, Option<&Path>)],
    ) -> Result<(), Vec<UsageError>> {
        let mut e = Vec::new();
        let files = [
            ("--json", self.json.as_deref().filter(|p| !is_stdout(p))),
            ("--hdr-out", self.hdr_out.as_deref()),
            ("--hlog", self.hlog.as_deref()),
            ("--report", self.report.as_deref()),
        ]
        .into_iter()
        .chain(extra.iter().copied());
        let mut seen: Vec<(&str, &Path)> = Vec::new();
        for (flag, path) in files {
            let Some(path) = path else { continue };
            let checked = if flag == "--report" {
                check_dir(path)
            } else {
                check_file(path)
            };
            if let Err(why) = checked {
                e.push(UsageError::new(flag, why));
            }
            if let Some((other, _)) = seen.iter().find(|(_, p)| *p == path) {
                let why = format!(
                    "{}: {other} writes there too; give each its own",
                    path.display()
                );
                e.push(UsageError::new(flag, why));
            }
            seen.push((flag, path));
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }

    /// Whether the JSON goes to stdout.
    pub fn json_to_stdout(&self) -> bool {
        self.json.as_deref().is_some_and(is_stdout)
    }
}

/// The SLO gate checked at the end of a run.
#[derive(Args, Debug)]
#[command(next_help_heading = "Output")]
pub struct GateFlags {
    /// A gate checked at the end: clauses like p99<=2ms, p99.9<=10ms, errors<=0.1%,
    /// rps>=50000, rss_growth<=10MB/min, fd_growth<=0, comma-separated; p99[NAME]<=5ms judges
    /// one line of a --request mix alone; each printed PASS/FAIL with its measured value; exit 3
    /// when one fails. A growth clause passed for certain (10 s in, r² >= 0.9) stops the run
    /// early, keeping its result.
    #[arg(long, value_name = "EXPR", value_parser = |s: &str| slo::parse(s).map(SloExpr))]
    pub slo: Option<SloExpr>,
    /// Judge the SLO even when the run's own checks say the driver shaped the figures.
    #[arg(long, requires = "slo")]
    pub allow_invalid: bool,
}

/// The clauses of `--slo` (a newtype: one value holding a list).
#[derive(Debug, Clone)]
pub struct SloExpr(pub Vec<slo::Clause>);

impl GateFlags {
    /// The clauses a run stops on once they are passed for certain: every clause is handed
    /// over, and the run takes those on the target's growth (`nines_driver::run::Hooks`).
    pub fn stop_on(&self) -> Vec<slo::Clause> {
        self.slo.as_ref().map(|e| e.0.clone()).unwrap_or_default()
    }

    /// Refuses a clause about a line the run's requests do not have. A run of one request
    /// (a one-line mix too) keeps no results per line, so it has no line to judge.
    pub fn check_lines(&self, requests: &nines_driver::config::Requests) -> Result<(), UsageError> {
        let Some(SloExpr(clauses)) = &self.slo else {
            return Ok(());
        };
        let mut named = slo::lines_named(clauses);
        let unknown = if requests.is_mix() {
            named.find(|n| requests.position(n).is_none())
        } else {
            named.next()
        };
        match unknown {
            None => Ok(()),
            Some(name) => {
                let names: Vec<&str> = requests.lines().iter().map(|l| l.name.as_str()).collect();
                Err(UsageError::new(
                    "--slo",
                    if requests.is_mix() {
                        format!(
                            "no request line is named `{name}` (the lines: {})",
                            names.join(", ")
                        )
                    } else {
                        format!(
                            "[{name}] names a line of a --request mix of two or more lines, and this run sends one request: drop [{name}] to judge the whole run"
                        )
                    },
                ))
            }
        }
    }
}

/// What is printed while a run goes.
#[derive(Args, Debug)]
#[command(next_help_heading = "Output")]
pub struct WatchFlags {
    /// One JSON line per second of measurement (throughput, p50/p90/p99/p99.9/max, errors,
    /// bytes received) to FILE, or to stdout with `-` (the summary then goes to stderr), for
    /// dashboards.
    #[arg(long, value_name = "FILE")]
    pub stats_stream: Option<PathBuf>,
    /// Print progress every second even when stderr is not a terminal.
    #[arg(long, conflicts_with = "quiet")]
    pub progress: bool,
    /// No progress lines.
    #[arg(short, long)]
    pub quiet: bool,
}

impl WatchFlags {
    /// Whether progress is shown: asked for, or stderr is a terminal and it was not refused.
    pub fn live(&self) -> bool {
        use std::io::IsTerminal;
        !self.quiet && (self.progress || std::io::stderr().is_terminal())
    }

    /// Whether the stats stream takes stdout.
    pub fn stream_to_stdout(&self) -> bool {
        self.stats_stream.as_deref().is_some_and(is_stdout)
    }
}

/// Whether a file can be written at `path`: its directory exists and takes a file, and `path`
/// is not a directory. Err is what follows the flag: the path, then why not.
pub fn check_file(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!("{} is a directory; name a file", path.display()));
    }
    // A device or a pipe is written in place. A device must open for writing; a FIFO is not
    // opened now, since its reader would take the close for the end of what it reads.
    if nines_driver::report::is_special(path) {
        use std::os::unix::fs::FileTypeExt as _;
        let fifo = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo());
        if fifo {
            return Ok(());
        }
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map(drop)
            .map_err(|e| format!("{}: cannot write to it: {e}", path.display()));
    }
    probe_parent(path)
}

/// Whether a report directory can be written at `path`: a directory there takes files, or none
/// is there and its parent takes one (it is created at the end).
fn check_dir(path: &Path) -> Result<(), String> {
    if is_stdout(path) {
        return Err("-: a report is a directory of files; name one".into());
    }
    if path.is_dir() {
        return probe(path, path);
    }
    if path.exists() {
        return Err(format!(
            "{} is a file; a report is a directory",
            path.display()
        ));
    }
    probe_parent(path)
}

/// Whether `path`'s directory exists and takes a file.
fn probe_parent(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "{}: no directory {} to write it in",
            path.display(),
            dir.display()
        ));
    }
    probe(path, dir)
}

/// Probes `dir` for writing `path`.
fn probe(path: &Path, dir: &Path) -> Result<(), String> {
    nines_driver::report::probe_dir(dir)
        .map_err(|e| format!("{}: cannot write in {}: {e}", path.display(), dir.display()))
}

/// `-` means stdout.
pub fn is_stdout(p: &std::path::Path) -> bool {
    p.as_os_str() == "-"
}
