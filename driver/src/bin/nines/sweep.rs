//! `nines sweep`: runs the steps, prints the table as they finish, writes the sweep value.

use std::io::IsTerminal;
use std::process::ExitCode;

use nines_common::usage::{exit_with, UsageError};
use nines_driver::report::{write_atomic, Format};
use nines_driver::run::{Hooks, RunError};
use nines_driver::sweep::{self, run_sweep, step_line, table_header};

use crate::args::SweepArgs;

/// `nines sweep`.
pub fn sweep_cmd(a: &SweepArgs) -> ExitCode {
    crate::raise_nofile();
    let cfg = match a.config() {
        Ok(c) => c,
        Err(e) => exit_with(&[e]),
    };
    refuse_per_run_flags(a);
    let usage = cfg.validate();
    if !usage.is_empty() {
        exit_with(&usage);
    }
    // The table goes to stdout as steps finish (stderr when stdout carries the JSON or the
    // stats stream).
    let is_stdout = |p: &std::path::Path| p.as_os_str() == "-";
    let json_to_stdout = a.bench.output.json.as_deref().is_some_and(is_stdout);
    let table_to_stderr = json_to_stdout || a.bench.stats_stream.as_deref().is_some_and(is_stdout);
    let live = !a.bench.quiet && (a.bench.progress || std::io::stderr().is_terminal());
    // The progress bar lives for the steps only: it is gone before the summary is printed.
    let result = {
        let mut progress = crate::progress::Progress::with_length(cfg.planned(), &cfg.base, live);
        let printer = progress.printer();
        let mut stream = match a
            .bench
            .stats_stream
            .as_deref()
            .map(|p| crate::stream::Stream::open(p, &mut progress))
        {
            Some(Ok(st)) => Some(st),
            Some(Err(e)) => return crate::fail(&format!("cannot open the stats stream: {e}")),
            None => None,
        };
        let observer: &mut dyn nines_driver::observer::Observer = match stream.as_mut() {
            Some(st) => st,
            None => &mut progress,
        };
        let mut hooks = Hooks {
            interrupt: Some(crate::interrupt_on_signals()),
            observer: Some(observer),
        };
        let say = |line: &str| printer.say(line, table_to_stderr);
        say(&format!(
            "nines sweep: {} closed-loop step(s), {} open-loop step(s)",
            cfg.connections.len(),
            cfg.rates.len()
        ));
        say(&table_header());
        run_sweep(&cfg, &mut hooks, &mut |step| say(&step_line(step)))
    };
    let sweep = match result {
        Ok(s) => s,
        Err(RunError::Usage(errors)) => exit_with(&errors),
        Err(e) => return crate::fail(&e),
    };
    let text = sweep::render(&sweep, Format::Text).expect("text renders");
    // The rows were printed live; the summary lines follow them.
    let summary: String = text
        .lines()
        .skip(2 + sweep.steps.len())
        .map(|l| format!("{l}\n"))
        .collect();
    if table_to_stderr {
        eprint!("{summary}");
    } else {
        print!("{summary}");
    }
    if json_to_stdout {
        print!(
            "{}",
            sweep::render(&sweep, Format::Json).expect("json renders")
        );
    }
    let ok = write_files(&sweep, a);
    // Steps past the knee may be cut short (errors, unsent requests): that is what a sweep
    // looks for, not a failure of the sweep.
    if ok && sweep.cut_short.is_none() && !sweep.steps.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Flags a single run reads and a sweep cannot honour: refused, not ignored.
fn refuse_per_run_flags(a: &SweepArgs) {
    let not_here = [
        (
            a.bench.slo.is_some(),
            "--slo",
            "gates one bench run; a sweep's knee takes --slo-p99",
        ),
        (
            a.bench.output.hdr_out.is_some(),
            "--hdr-out",
            "is per run; a sweep saves every step's histograms with --json",
        ),
        (
            a.bench.output.hlog.is_some(),
            "--hlog",
            "is per run; a sweep saves every step's histograms with --json",
        ),
    ];
    let refused: Vec<UsageError> = not_here
        .iter()
        .filter(|(given, _, _)| *given)
        .map(|(_, flag, why)| UsageError::new(flag, *why))
        .collect();
    if !refused.is_empty() {
        exit_with(&refused);
    }
}

/// The sweep's JSON file and report directory, as asked; false if one could not be written.
fn write_files(sweep: &sweep::Sweep, a: &SweepArgs) -> bool {
    let mut ok = true;
    if let Some(path) = a
        .bench
        .output
        .json
        .as_deref()
        .filter(|p| p.as_os_str() != "-")
    {
        let json = sweep::render(sweep, Format::Json).expect("json renders");
        if let Err(e) = write_atomic(path, json.as_bytes()) {
            eprintln!("nines: error: cannot write {}: {e}", path.display());
            ok = false;
        }
    }
    if let Some(dir) = a.bench.output.report.as_deref() {
        ok &= sweep_dir(sweep, dir);
    }
    ok
}

/// A sweep's report directory: summary.md, results.csv (a row per step), result.json, the
/// throughput-latency curve, and each step's own report directory (its distribution as .hgrm,
/// its spectrum and timeline) in `step-01`, `step-02`, ... in the table's order.
fn sweep_dir(s: &sweep::Sweep, dir: &std::path::Path) -> bool {
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("nines: error: cannot create {}: {e}", dir.display());
        return false;
    }
    let mut ok = true;
    for (name, format) in [
        ("summary.md", Format::Markdown),
        ("results.csv", Format::Csv),
        ("result.json", Format::Json),
    ] {
        let text = sweep::render(s, format).expect("sweep formats render");
        if let Err(e) = write_atomic(&dir.join(name), text.as_bytes()) {
            eprintln!(
                "nines: error: cannot write {}: {e}",
                dir.join(name).display()
            );
            ok = false;
        }
    }
    for (i, step) in s.steps.iter().enumerate() {
        ok &= crate::output::report_dir(&step.report, &dir.join(step_dir_name(i)));
    }
    let curve = nines_driver::report::plot::sweep_curve(s);
    ok & crate::output::write_plots(dir, vec![("throughput-latency.svg", curve)])
}

/// The directory of the `i`th step (from 0) in a sweep's report directory.
fn step_dir_name(i: usize) -> String {
    format!("step-{:02}", i + 1)
}

/// `nines report SWEEP.json`: the sweep in `format` (or its report directory in `out`), if the
/// file is a sweep.
pub fn report_sweep(
    path: &std::path::Path,
    format: Format,
    out: Option<&std::path::Path>,
) -> Option<ExitCode> {
    let bytes = std::fs::read(path).ok()?;
    Some(match sweep::parse(&bytes)? {
        Ok(s) if out.is_some() => {
            if sweep_dir(&s, out.expect("checked")) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Ok(s) => match sweep::render(&s, format) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(why) => exit_with(&[nines_common::usage::UsageError::new("--format", why)]),
        },
        Err(e) => crate::fail(&format!("{}: {e}", path.display())),
    })
}

/// `nines compare` over sweep files (every file a sweep, in groups of `--repeat`): step by step.
/// None when none is a sweep (they are then compared as runs); a mix is refused.
pub fn compare_sweeps(a: &crate::args::CompareArgs) -> Option<ExitCode> {
    let mut sweeps = Vec::new();
    let mut runs = Vec::new();
    for p in &a.results {
        let bytes = match std::fs::read(p) {
            Ok(b) => b,
            Err(e) => return Some(crate::fail(&format!("cannot read {}: {e}", p.display()))),
        };
        match sweep::parse(&bytes) {
            Some(Ok(s)) => sweeps.push(s),
            Some(Err(e)) => return Some(crate::fail(&format!("{}: {e}", p.display()))),
            None => runs.push(p),
        }
    }
    match (sweeps.is_empty(), runs.first()) {
        (true, _) => return None,
        (false, Some(run)) => {
            return Some(crate::fail(&format!(
                "{} is one run and the others are sweeps: compare sweeps with sweeps, or runs with runs (a sweep's steps are runs: nines report SWEEP.json --out DIR writes each as DIR/step-NN/result.json)",
                run.display()
            )))
        }
        (false, None) => {}
    }
    let groups: Vec<(String, Vec<&sweep::Sweep>)> = sweeps
        .chunks(a.repeat)
        .zip(a.results.chunks(a.repeat))
        .map(|(ss, paths)| {
            let name = paths[0]
                .file_stem()
                .map_or_else(|| "?".to_string(), |s| s.to_string_lossy().into_owned());
            (name, ss.iter().collect())
        })
        .collect();
    print!(
        "{}",
        nines_driver::compare::render_sweeps(&groups, a.markdown)
    );
    Some(ExitCode::SUCCESS)
}
