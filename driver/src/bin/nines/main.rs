//! `nines`: the command line. Parses flags, runs the library, and writes the one result value
//! every command produces or reads.
//!
//! Exit status: 0 the run completed and measured replies (and passed its `--slo`); 1 it could
//! not start, was cut short (Ctrl-C, `--max-errors`, every connection lost, no reply measured)
//! or a file could not be written — the figures measured until then are still printed and
//! written; 2 bad usage; 3 the run completed but a `--slo` clause failed.

#![warn(clippy::too_many_lines)]

mod args;
mod output;
mod progress;
mod request;
mod storm;
mod stream;
mod sweep;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use args::{BenchArgs, Cli, Command, HostileArgs, MergeArgs, ReportArgs};
use nines_common::usage::{exit_with, parse_or_exit, UsageError};
use nines_driver::config::defaults;
use nines_driver::profile::{profile, ProfileError};
use nines_driver::report::{load, merge, render::render_many, Origin, Report};
use nines_driver::run::{run, Hooks, RunError};

fn main() -> ExitCode {
    nines_common::usage::init_logging("warn");
    let cli: Cli = parse_or_exit();
    match cli.command {
        Command::Bench(a) => bench(&a, false),
        Command::Profile(a) => bench(&a, true),
        Command::Sweep(a) => sweep::sweep_cmd(&a),
        Command::Storm(a) => storm::storm_cmd(&a),
        Command::Merge(a) => merge_cmd(&a),
        Command::Report(a) => report_cmd(&a),
        Command::Compare(a) => compare_cmd(&a),
        Command::Hostile(a) => hostile_cmd(&a),
        Command::Node => node_cmd(),
    }
}

/// `nines hostile`.
fn hostile_cmd(a: &HostileArgs) -> ExitCode {
    use nines_driver::hostile;
    let target = match nines_driver::run::resolve(&a.target) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let cfg = hostile::HostileConfig {
        target,
        mode: a.mode,
        connections: a.connections,
        rate_per_s: a.rate,
        duration: a.duration.0,
    };
    raise_nofile();
    let stop = interrupt_on_signals();
    let report = hostile::run(&cfg, &stop, |n| {
        // Scripts wait for this line before loading the server beside the hostile clients.
        eprintln!("nines hostile: {n} connections open");
    });
    let text = hostile::render(&cfg, &report);
    let json = serde_json::to_string_pretty(&report).expect("report serializes") + "\n";
    match a.json.as_deref() {
        Some(p) if p.as_os_str() == "-" => {
            eprint!("{text}");
            print!("{json}");
        }
        Some(p) => {
            print!("{text}");
            if let Err(e) = nines_driver::report::write_atomic(p, json.as_bytes()) {
                return fail(&format!("cannot write {}: {e}", p.display()));
            }
        }
        None => print!("{text}"),
    }
    ExitCode::SUCCESS
}

/// `nines bench` and `nines profile`.
fn bench(a: &BenchArgs, profiling: bool) -> ExitCode {
    if a.connections.0.len() > 1 {
        let why = format!(
            "{}: takes one number here; `nines sweep` takes a list",
            a.connections
        );
        exit_with(&[UsageError::new("--connections", why)]);
    }
    raise_nofile();
    let default_duration = if profiling {
        defaults::PROFILE_DURATION
    } else {
        defaults::DURATION
    };
    let cfg = match a.config(default_duration) {
        Ok(c) => c,
        Err(e) => exit_with(&[e]),
    };
    let usage = cfg.validate();
    if !usage.is_empty() {
        exit_with(&usage);
    }
    let mut progress = progress::Progress::new(
        &cfg,
        !a.quiet && (a.progress || std::io::stderr().is_terminal()),
    );
    let mut stream = match a
        .stats_stream
        .as_deref()
        .map(|p| stream::Stream::open(p, &mut progress))
    {
        Some(Ok(st)) => Some(st),
        Some(Err(e)) => return fail(&format!("cannot open the stats stream: {e}")),
        None => None,
    };
    let observer: &mut dyn nines_driver::observer::Observer = match stream.as_mut() {
        Some(st) => st,
        None => &mut progress,
    };
    let mut hooks = Hooks {
        interrupt: Some(interrupt_on_signals()),
        observer: Some(observer),
    };
    let result = if profiling {
        profile(&cfg, &mut hooks)
    } else {
        run(&cfg, &mut hooks).map_err(ProfileError::Run)
    };
    let mut report = match result {
        Ok(r) => r,
        Err(ProfileError::Run(RunError::Usage(errors))) => exit_with(&errors),
        Err(e) => return fail(&e),
    };
    if let Origin::Run { manifest } = &mut report.origin {
        manifest.command = std::env::args().collect();
    }
    if let Some(slo) = &a.slo {
        report.slo = Some(nines_driver::slo::check(&slo.0, &report, a.allow_invalid));
    }
    let stdout_taken = a
        .stats_stream
        .as_deref()
        .is_some_and(|p| p.as_os_str() == "-");
    finish(&report, output::emit(&report, &a.output, stdout_taken))
}

/// `nines merge`.
fn merge_cmd(a: &MergeArgs) -> ExitCode {
    let parts = match load_all(&a.results) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let named = a
        .results
        .iter()
        .map(|p| p.display().to_string())
        .zip(parts)
        .collect();
    match merge(named) {
        Ok(report) => finish(&report, output::emit(&report, &a.output, false)),
        Err(e) => fail(&e),
    }
}

/// `nines compare`.
fn compare_cmd(a: &args::CompareArgs) -> ExitCode {
    use nines_driver::compare::{figures, render, Group};
    let n = a.repeat;
    if n == 0 || a.results.len() % n != 0 || a.results.len() / n < 2 {
        let why = format!(
            "{n}: {} results do not make two or more groups of {n} runs (give N runs of each configuration, in order)",
            a.results.len()
        );
        exit_with(&[UsageError::new("--repeat", why)]);
    }
    if let Some(code) = sweep::compare_sweeps(a) {
        return code;
    }
    let reports = match load_all(&a.results) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let groups: Vec<Group> = reports
        .chunks(n)
        .zip(a.results.chunks(n))
        .map(|(rs, paths)| Group {
            name: paths[0]
                .file_stem()
                .map_or_else(|| "?".to_string(), |s| s.to_string_lossy().into_owned()),
            runs: rs.iter().map(figures).collect(),
        })
        .collect();
    print!("{}", render(&groups, a.markdown));
    ExitCode::SUCCESS
}

/// `nines report`.
fn report_cmd(a: &ReportArgs) -> ExitCode {
    if a.results.len() > 1 && !a.format.takes_many() {
        let why = format!(
            "{}: takes one result; merge several first with `nines merge`",
            a.format
        );
        exit_with(&[UsageError::new("--format", why)]);
    }
    if let [one] = a.results.as_slice() {
        if let Some(code) = sweep::report_sweep(one, a.format, a.out.as_deref()) {
            return code;
        }
    }
    match load_all(&a.results) {
        Ok(reports) => match (&a.out, reports.as_slice()) {
            (Some(dir), [one]) => {
                if output::report_dir(one, dir) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            (Some(_), _) => {
                let why = "takes one result; merge several first with `nines merge`";
                exit_with(&[UsageError::new("--out", why)])
            }
            (None, _) => {
                print!("{}", render_many(&reports, a.format));
                ExitCode::SUCCESS
            }
        },
        Err(code) => code,
    }
}

fn load_all(paths: &[PathBuf]) -> Result<Vec<Report>, ExitCode> {
    paths
        .iter()
        .map(|p| load(p).map_err(|e| fail(&e)))
        .collect()
}

fn node_cmd() -> ExitCode {
    raise_nofile();
    let mut node = nines_driver::node::Node::new();
    match node.serve(
        std::io::stdin().lock(),
        std::io::stdout().lock(),
        std::io::stderr(),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        // The harness went away: nothing left to answer.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Exit status for a result: 0 only when it completed and every file was written.
pub(crate) fn finish(report: &Report, written: bool) -> ExitCode {
    if !(report.completed() && written) {
        ExitCode::from(1)
    } else if report.slo.as_ref().is_some_and(|g| !g.pass) {
        ExitCode::from(nines_driver::slo::EXIT_SLO_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

pub(crate) fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("nines: error: {e}");
    ExitCode::from(1)
}

/// Every connection is a descriptor (twice over when the server is embedded): use them all.
pub(crate) fn raise_nofile() {
    if let Err(e) = nines_common::sys::raise_nofile() {
        eprintln!("nines: warning: could not raise RLIMIT_NOFILE: {e}");
    }
}

/// Ctrl-C/SIGTERM stop the run and keep its results; a second one exits at once.
pub(crate) fn interrupt_on_signals() -> Arc<AtomicBool> {
    let interrupt = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, interrupt.clone());
        let _ = signal_hook::flag::register(sig, interrupt.clone());
    }
    interrupt
}
