//! `nines sweep`: runs the steps, prints a row as each finishes, then the peak and the knee,
//! and writes the sweep value.

use std::process::ExitCode;

use clap::Args;
use nines_common::units::HumanDuration;
use nines_common::usage::{exit_with, UsageError};
use nines_driver::config::{defaults, Load, RateLevel, SweepConfig};
use nines_driver::report::render::sweep::{step_line, summary, table_header};
use nines_driver::run::RunError;
use nines_driver::sweep::run_sweep;

use crate::console;
use crate::exit::{fail, raise_nofile};
use crate::flags::load::LoadFlags;
use crate::flags::output::{FlameFlags, OutputFlags, WatchFlags};
use crate::flags::request::RequestFlags;
use crate::flags::target::{TargetFlags, BENCH};
use crate::progress::Progress;

/// Every flag of `nines sweep`: bench's, with levels.
#[derive(Args, Debug)]
#[command(mut_arg("source", |a| a.hide(true)))]
pub struct SweepArgs {
    #[command(flatten)]
    pub target: TargetFlags,
    #[command(flatten)]
    pub load: LoadFlags,
    #[command(flatten)]
    pub request: RequestFlags,
    /// Open-loop levels, run after the connection levels on the largest of them: shares of the
    /// peak found by a short closed-loop run (50%, 110%), or rates (20k).
    #[arg(long, value_name = "LEVELS", value_parser = Rates::parse)]
    pub rates: Option<Rates>,
    /// The knee is the highest load whose p99 stays at or under this [default: 3x the lowest
    /// load's p99].
    #[arg(long, value_name = "DURATION")]
    pub slo_p99: Option<HumanDuration>,
    #[arg(long, help = crate::flags::with_default(
        "How long the peak probe measures (it runs when a --rates level is a share of the peak)",
        HumanDuration(defaults::PEAK_DURATION),
    ))]
    pub peak_duration: Option<HumanDuration>,
    #[command(flatten)]
    pub output: OutputFlags,
    #[command(flatten)]
    pub flame: FlameFlags,
    #[command(flatten)]
    pub watch: WatchFlags,
    /// Not a sweep's: refused with what to use instead (--slo-p99).
    #[arg(long, hide = true, value_name = "EXPR")]
    pub slo: Option<String>,
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

impl SweepArgs {
    /// The sweep the flags describe; flags a sweep cannot honour are refused, not ignored.
    pub fn config(&self) -> Result<SweepConfig, Vec<UsageError>> {
        let per_run = [
            (
                self.load.rate.is_some(),
                "--rate",
                "a sweep takes --rates LEVELS (e.g. 50%,90%,20k)",
            ),
            (
                self.load.stages.is_some(),
                "--stages",
                "shapes one bench run's rate; a sweep takes --rates LEVELS (e.g. 50%,90%,20k)",
            ),
            (
                self.output.hdr_out.is_some(),
                "--hdr-out",
                "is per run; a sweep saves every step's histograms with --json",
            ),
            (
                self.output.hlog.is_some(),
                "--hlog",
                "is per run; a sweep saves every step's histograms with --json",
            ),
            (
                self.slo.is_some(),
                "--slo",
                "gates one bench run; a sweep's knee takes --slo-p99",
            ),
            (
                self.peak_duration.is_some()
                    && !self.rates.as_ref().is_some_and(|r| {
                        r.0.iter().any(|l| matches!(l, RateLevel::OfPeak(_)))
                    }),
                "--peak-duration",
                "times the peak probe, which runs only for a --rates level that is a share of the peak (50%)",
            ),
        ];
        let mut refused: Vec<UsageError> = per_run
            .iter()
            .filter(|(given, _, _)| *given)
            .map(|(_, flag, why)| UsageError::new(flag, *why))
            .collect();
        let rates = self.rates.clone().map(|r| r.0).unwrap_or_default();
        let arrivals = self
            .load
            .arrivals
            .arrivals(!rates.is_empty(), self.request.draws());
        let request = self
            .request
            .requests(self.target.target.as_deref(), self.load.arrivals.seed());
        let stdout = super::one_stdout(&self.output, &self.watch);
        // Every flag that does not fit is named at once.
        refused.extend(arrivals.as_ref().err().cloned().unwrap_or_default());
        refused.extend(request.as_ref().err().cloned().unwrap_or_default());
        refused.extend(stdout.err());
        refused.extend(
            self.output
                .check_with(&[self.flame.file()])
                .err()
                .unwrap_or_default(),
        );
        let (Ok(arrivals), Ok(request), true) = (arrivals, request, refused.is_empty()) else {
            return Err(refused);
        };
        let bench = self.load.bench(defaults::DURATION);
        let levels = self.target.levels(BENCH);
        // Without --rates every --connections value is a closed-loop step; with --rates and no
        // --connections, the rates run alone on the default connections.
        let closed = if self.target.connections.is_none() && !rates.is_empty() {
            Vec::new()
        } else {
            levels.clone()
        };
        let mut base = self
            .target
            .config(BENCH, levels[0], Load::ClosedLoop(bench), request)
            .map_err(|e| vec![e])?;
        // Every step (and the peak probe) is sampled over its own measured window.
        base.flame = self.flame.flame_spec();
        Ok(SweepConfig {
            arrivals,
            rates,
            peak_duration: self.peak_duration.map_or(defaults::PEAK_DURATION, |d| d.0),
            slo_p99: self.slo_p99.map(|d| d.0),
            ..SweepConfig::new(base, closed)
        })
    }
}

/// `nines sweep`.
pub fn sweep(a: &SweepArgs) -> ExitCode {
    let cfg = a.config().unwrap_or_else(|e| exit_with(&e));
    // Checked against the limit nines runs with: the soft limit raised to the hard one.
    raise_nofile();
    let usage = cfg.validate_with(&nines_driver::run::limits());
    if !usage.is_empty() {
        exit_with(&usage);
    }
    // The table goes to stdout as steps finish (stderr when stdout carries the JSON or the
    // stats stream).
    let table_to_stderr = a.output.json_to_stdout() || a.watch.stream_to_stdout();
    // The progress bar lives for the steps only: it is gone before the summary is printed.
    let result = {
        let mut progress = Progress::new(cfg.planned(), cfg.bench().stop, a.watch.live());
        let printer = progress.printer();
        let say = |line: &str| printer.say(line, table_to_stderr);
        say(&format!(
            "nines sweep: {} closed-loop step(s), {} open-loop step(s)",
            cfg.connections.len(),
            cfg.rates.len()
        ));
        say(&table_header());
        super::watched(&a.watch, Vec::new(), &mut progress, |hooks| {
            run_sweep(&cfg, hooks, &mut |step| say(&step_line(step)))
        })
    };
    let result = match result {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let sweep = match result {
        Ok(s) => s,
        Err(RunError::Usage(errors)) => exit_with(&errors),
        Err(e) => return fail(&e),
    };
    // The rows were printed live; the summary lines follow them. A closed stdout loses the
    // table, not the sweep: its files are still written, and the exit status says so.
    let printed = if table_to_stderr {
        console::err(&summary(&sweep));
        true
    } else {
        console::print(&summary(&sweep), "the sweep's table") && console::stdout_failed().is_none()
    };
    let written = crate::output::emit_sweep(&sweep, &a.output, a.flame.flame.as_deref()) && printed;
    // Steps past the knee may be cut short (errors, unsent requests): that is what a sweep
    // looks for, not a failure of the sweep. A sweep none of whose steps completed measured
    // nothing, though.
    let any_completed = sweep.steps.iter().any(|st| st.report.completed());
    if written && sweep.cut_short.is_none() && any_completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
