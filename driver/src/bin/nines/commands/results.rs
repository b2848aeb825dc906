//! The commands on saved results: `nines report` (print again, in any format, or as a report
//! directory), `nines merge` (several results as one true distribution) and `nines compare`
//! (side by side, with significance). A file is a run or a sweep; the library's loader says
//! which, and converts results saved by earlier versions.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use nines_common::usage::{exit_with, UsageError, EXIT_USAGE};
use nines_driver::compare::{render, render_sweeps, Group};
use nines_driver::report::render::render_many;
use nines_driver::report::sweep::Sweep;
use nines_driver::report::{dir, load, merge, Format, Loaded, MergeError, Report, SWEEP_NOT_RUN};

use crate::console;
use crate::exit::{fail, finish};
use crate::flags::output::OutputFlags;

/// `nines report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Saved results (JSON reports, sweeps, or .hlog interval logs).
    #[arg(required = true, value_name = "RESULT")]
    pub results: Vec<PathBuf>,
    /// Output format [default: text].
    #[arg(long, value_enum, conflicts_with = "out")]
    pub format: Option<Format>,
    /// Write the report directory (summary.md, results.csv, latency.hgrm, result.json and the
    /// SVG plots; a sweep's with a directory per step) to DIR instead of printing.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `nines merge`.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Results to add: JSON reports or .hlog interval logs.
    #[arg(required = true, value_name = "RESULT")]
    pub results: Vec<PathBuf>,
    #[command(flatten)]
    pub output: OutputFlags,
}

/// `nines compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Saved results (JSON reports, or sweeps): one per configuration, or N per configuration
    /// in order with --repeat N (a1 a2 a3 b1 b2 b3).
    #[arg(required = true, num_args = 2.., value_name = "RESULT")]
    pub results: Vec<PathBuf>,
    /// Runs per configuration.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// A Markdown table instead of aligned text.
    #[arg(long)]
    pub markdown: bool,
    /// Draw the differential flame graph of the first configuration against the last to FILE
    /// (an SVG: red where the CPU's share grew, blue where it shrank); every run compared must
    /// have been made with --flame.
    #[arg(long, value_name = "FILE")]
    pub flame_diff: Option<PathBuf>,
}

/// Every file, or the exit status after saying which one could not be read.
fn load_all(paths: &[PathBuf]) -> Result<Vec<Loaded>, ExitCode> {
    paths
        .iter()
        .map(|p| load(p).map_err(|e| fail(&e)))
        .collect()
}

/// Every file as one result; a sweep among them is named with where its steps' results are.
fn reports(paths: &[PathBuf], loaded: Vec<Loaded>) -> Result<Vec<Report>, ExitCode> {
    paths
        .iter()
        .zip(loaded)
        .map(|(p, l)| match l {
            Loaded::Report(r) => Ok(*r),
            Loaded::Sweep(_) => Err(fail(&format!("{}: {SWEEP_NOT_RUN}", p.display()))),
        })
        .collect()
}

/// `nines report`.
pub fn report(a: &ReportArgs) -> ExitCode {
    let format = a.format.unwrap_or(Format::Text);
    if a.results.len() > 1 && (a.out.is_some() || !format.takes_many()) {
        let (flag, value) = match &a.out {
            Some(_) => ("--out", "DIR".to_string()),
            None => ("--format", format.to_string()),
        };
        let why = format!("{value}: takes one result; merge several first with `nines merge`");
        exit_with(&[UsageError::new(flag, why)]);
    }
    let loaded = match load_all(&a.results) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if let [Loaded::Sweep(s)] = loaded.as_slice() {
        return report_sweep(s, format, a.out.as_deref());
    }
    let reports = match reports(&a.results, loaded) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match (&a.out, reports.as_slice()) {
        (Some(d), [one]) => status(crate::fallback::write_dir(d, |d| dir::write(one, d))),
        _ => status(console::print(&render_many(&reports, format), "the report")),
    }
}

fn report_sweep(s: &Sweep, format: Format, out: Option<&Path>) -> ExitCode {
    if let Some(d) = out {
        return status(crate::fallback::write_dir(d, |d| dir::write_sweep(s, d)));
    }
    match nines_driver::report::render::sweep::render(s, format) {
        Ok(text) => status(console::print(&text, "the report")),
        Err(why) => exit_with(&[UsageError::new("--format", why)]),
    }
}

fn status(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `nines merge`.
pub fn merge_cmd(a: &MergeArgs) -> ExitCode {
    if let Err(e) = a.output.check() {
        exit_with(&e);
    }
    let parts = match load_all(&a.results).and_then(|l| reports(&a.results, l)) {
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
        Ok(report) => finish(
            &report,
            crate::output::emit(&report, &a.output, None, false),
        ),
        // Naming one run twice is a mistake in the command line, not a failed merge.
        Err(e @ MergeError::SameRun(_)) => {
            console::error(e);
            ExitCode::from(EXIT_USAGE)
        }
        Err(e) => fail(&e),
    }
}

/// `nines compare`: runs with runs, or sweeps with sweeps (step by step).
pub fn compare(a: &CompareArgs) -> ExitCode {
    let n = a.repeat;
    if n == 0 || a.results.len() % n != 0 || a.results.len() / n < 2 {
        let why = format!(
            "{n}: {} results do not make two or more groups of {n} runs (give N runs of each configuration, in order)",
            a.results.len()
        );
        exit_with(&[UsageError::new("--repeat", why)]);
    }
    if let Some(Err(why)) = a
        .flame_diff
        .as_deref()
        .map(crate::flags::output::check_file)
    {
        exit_with(&[UsageError::new("--flame-diff", why)]);
    }
    let loaded = match load_all(&a.results) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let name = |paths: &[PathBuf]| {
        paths[0]
            .file_stem()
            .map_or_else(|| "?".to_string(), |s| s.to_string_lossy().into_owned())
    };
    let sweeps: Vec<&Sweep> = loaded
        .iter()
        .filter_map(|l| match l {
            Loaded::Sweep(s) => Some(&**s),
            Loaded::Report(_) => None,
        })
        .collect();
    if sweeps.is_empty() {
        let reports = match reports(&a.results, loaded) {
            Ok(r) => r,
            Err(code) => return code,
        };
        let groups: Vec<Group> = reports
            .chunks(n)
            .zip(a.results.chunks(n))
            .map(|(rs, paths)| Group::of(&name(paths), &rs.iter().collect::<Vec<_>>()))
            .collect();
        let printed = console::print(&render(&groups, a.markdown), "the comparison");
        let drawn =
            a.flame_diff.as_deref().is_none_or(|path| {
                match nines_driver::compare::diff_svg(&groups) {
                    Ok(svg) => crate::fallback::write_file(path, &svg, "svg"),
                    Err(why) => {
                        console::err(&format!("--flame-diff {}: {why}", path.display()));
                        false
                    }
                }
            });
        return status(printed && drawn);
    }
    if let Some((run, _)) = a
        .results
        .iter()
        .zip(&loaded)
        .find(|(_, l)| matches!(l, Loaded::Report(_)))
    {
        return fail(&format!(
            "{} is one run and the others are sweeps: compare sweeps with sweeps, or runs with runs (a sweep's steps are runs: nines report SWEEP.json --out DIR writes each as DIR/step-NN/result.json)",
            run.display()
        ));
    }
    if a.flame_diff.is_some() {
        let why = "compares runs; for sweeps, compare one step's results (nines report SWEEP.json --out DIR writes each as DIR/step-NN/result.json)";
        exit_with(&[UsageError::new("--flame-diff", why)]);
    }
    let groups: Vec<(String, Vec<&Sweep>)> = sweeps
        .chunks(n)
        .zip(a.results.chunks(n))
        .map(|(ss, paths)| (name(paths), ss.to_vec()))
        .collect();
    status(console::print(
        &render_sweeps(&groups, a.markdown),
        "the comparison",
    ))
}
