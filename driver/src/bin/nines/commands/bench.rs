//! `nines bench` and `nines profile`: one run, its summary and its files.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use nines_common::usage::{exit_with, UsageError};
use nines_driver::config::{defaults, BenchConfig};
use nines_driver::profile::{profile, ProfileError};
use nines_driver::run::{run, RunError};

use crate::exit::{fail, finish, raise_nofile};
use crate::flags::load::LoadFlags;
use crate::flags::output::{FlameFlags, GateFlags, OutputFlags, WatchFlags};
use crate::flags::request::RequestFlags;
use crate::flags::target::{TargetFlags, BENCH};

/// Every flag of `nines bench` (and `nines profile`).
#[derive(Args, Debug)]
#[command(mut_arg("source", |a| a.hide(true)))]
pub struct BenchArgs {
    #[command(flatten)]
    pub target: TargetFlags,
    #[command(flatten)]
    pub load: LoadFlags,
    #[command(flatten)]
    pub request: RequestFlags,
    #[command(flatten)]
    pub output: OutputFlags,
    #[command(flatten)]
    pub flame: FlameFlags,
    #[command(flatten)]
    pub gate: GateFlags,
    #[command(flatten)]
    pub watch: WatchFlags,
}

impl BenchArgs {
    /// The run the flags describe, measuring for `default_duration` unless told; every flag
    /// that does not fit is named.
    pub fn config(&self, default_duration: Duration) -> Result<BenchConfig, Vec<UsageError>> {
        super::one_stdout(&self.output, &self.watch).map_err(|e| vec![e])?;
        self.output.check_with(&[self.flame.file()])?;
        let connections = self.target.one_level(BENCH).map_err(|e| vec![e])?;
        let load = self.load.load(default_duration, self.request.draws());
        let request = self
            .request
            .requests(self.target.target.as_deref(), self.load.arrivals.seed());
        let (load, request) = match (load, request) {
            (Ok(l), Ok(r)) => (l, r),
            (l, r) => {
                let mut e = l.err().unwrap_or_default();
                e.extend(r.err().unwrap_or_default());
                return Err(e);
            }
        };
        self.gate.check_lines(&request).map_err(|e| vec![e])?;
        let mut cfg = self
            .target
            .config(BENCH, connections, load, request)
            .map_err(|e| vec![e])?;
        cfg.flame = self.flame.flame_spec();
        Ok(cfg)
    }
}

/// Which command runs the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `nines bench`.
    Bench,
    /// `nines profile`: the run, and the server's time split by phase.
    Profile,
}

/// `nines bench` and `nines profile`.
pub fn bench(a: &BenchArgs, mode: Mode) -> ExitCode {
    let default_duration = match mode {
        Mode::Bench => defaults::DURATION,
        Mode::Profile => defaults::PROFILE_DURATION,
    };
    let cfg = a.config(default_duration).unwrap_or_else(|e| exit_with(&e));
    // Checked against the limit nines runs with: the soft limit raised to the hard one.
    raise_nofile();
    let usage = nines_driver::run::validate(&cfg);
    if !usage.is_empty() {
        exit_with(&usage);
    }
    // Progress lives for the run only: it is gone before the summary is printed.
    let result = {
        let mut progress = super::progress_for(&cfg, &a.watch);
        super::watched(
            &a.watch,
            a.gate.stop_on(),
            &mut progress,
            |hooks| match mode {
                Mode::Profile => profile(&cfg, hooks),
                Mode::Bench => run(&cfg, hooks).map_err(ProfileError::Run),
            },
        )
    };
    let result = match result {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let mut report = match result {
        Ok(r) => r,
        Err(ProfileError::Run(RunError::Usage(errors))) => exit_with(&errors),
        Err(e) => return fail(&e),
    };
    super::record_command(&mut report);
    super::judge(&mut report, &a.gate);
    finish(
        &report,
        crate::output::emit(
            &report,
            &a.output,
            a.flame.flame.as_deref(),
            a.watch.stream_to_stdout(),
        ),
    )
}
