//! `nines storm`: the run (one process, or `--processes N` children whose Reports are merged),
//! a live line per second, and the seed's statistics at the end.

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use clap::Args;
use nines_common::units::thousands;
use nines_common::usage::{exit_with, UsageError};
use nines_driver::config::{defaults, BenchConfig, Load};
use nines_driver::observer::{Event, Observer};
use nines_driver::report::{load_report, merge, Report};
use nines_driver::run::{Hooks, RunError};

use crate::exit::{fail, finish, interrupt_on_signals, raise_nofile};
use crate::flags::load::StormFlags;
use crate::flags::output::{GateFlags, OutputFlags, WatchFlags};
use crate::flags::request::RequestFlags;
use crate::flags::target::{TargetFlags, STORM};

/// Every flag of `nines storm`.
#[derive(Args, Debug)]
pub struct StormArgs {
    #[command(flatten)]
    pub target: TargetFlags,
    #[command(flatten)]
    pub storm: StormFlags,
    #[command(flatten)]
    pub request: RequestFlags,
    #[command(flatten)]
    pub output: OutputFlags,
    #[command(flatten)]
    pub gate: GateFlags,
    #[command(flatten)]
    pub watch: WatchFlags,
    /// Run exactly this configuration (JSON), as one of `--processes` N: the parent writes it.
    #[arg(long, hide = true, value_name = "FILE")]
    pub run_config: Option<PathBuf>,
}

impl StormArgs {
    /// The storm the flags describe (or the configuration a parent process wrote).
    pub fn config(&self) -> Result<BenchConfig, Vec<UsageError>> {
        if let Some(path) = &self.run_config {
            let bad = |why: String| vec![UsageError::new("--run-config", why)];
            let text = std::fs::read(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
            return serde_json::from_slice(&text)
                .map_err(|e| bad(format!("{}: {e}", path.display())));
        }
        if !(1..=defaults::MAX_STORM_PROCESSES).contains(&self.storm.processes) {
            return Err(vec![UsageError::range(
                "--processes",
                self.storm.processes,
                1,
                defaults::MAX_STORM_PROCESSES,
                "",
            )]);
        }
        let connections = self.target.one_level(STORM).map_err(|e| vec![e])?;
        let request = self.request.spec(self.target.target.as_deref())?;
        self.target
            .config(STORM, connections, self.storm.load(), request)
            .map_err(|e| vec![e])
    }
}

/// `nines storm`.
pub fn storm(a: &StormArgs) -> ExitCode {
    let cfg = a.config().unwrap_or_else(|e| exit_with(&e));
    let usage = cfg.validate();
    if !usage.is_empty() {
        exit_with(&usage);
    }
    raise_nofile();
    let report = if a.storm.processes > 1 {
        match spread(a, &cfg) {
            Ok(r) => r,
            Err(e) => return fail(&e),
        }
    } else {
        let mut live = Live {
            open: 0,
            enabled: a.watch.live(),
        };
        let mut stream = None;
        let observer = match super::observer(&a.watch, &mut live, &mut stream) {
            Ok(o) => o,
            Err(e) => return fail(&e),
        };
        let mut hooks = Hooks {
            interrupt: Some(interrupt_on_signals()),
            observer: Some(observer),
        };
        match nines_driver::storm::run_storm(&cfg, &mut hooks) {
            Ok(r) => r,
            Err(RunError::Usage(errors)) => exit_with(&errors),
            Err(e) => return fail(&e),
        }
    };
    let mut report = report;
    super::bench::judge(&mut report, &a.gate);
    let written = crate::output::emit(&report, &a.output, a.watch.stream_to_stdout());
    finish(&report, written)
}

/// A line per second: connections open and lost so far, echoes, echo p99.
struct Live {
    open: u64,
    enabled: bool,
}

impl Observer for Live {
    fn on_event(&mut self, e: &Event<'_>) {
        let Event::Interval {
            interval: iv,
            elapsed_s,
            errors,
        } = e
        else {
            return;
        };
        self.open = (self.open + iv.opened).saturating_sub(iv.lost);
        if !self.enabled {
            return;
        }
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

/// `--processes N`: N child `nines storm` processes, each with its share of the connections
/// and of the connect rate (and of `--source`), started together; their JSON Reports merged.
/// Each child runs the very configuration this one built, with its shares (`--run-config`).
fn spread(a: &StormArgs, cfg: &BenchConfig) -> Result<Report, String> {
    let Load::Storm(st) = cfg.load else {
        return Err("only a storm is spread over processes".into());
    };
    let dir = std::env::temp_dir().join(format!("nines-storm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let n = a.storm.processes;
    // Every child starts at the same moment, once all have been spawned.
    let start_at = cfg
        .start_at_unix_s
        .unwrap_or_else(|| nines_driver::clock::unix_now_s() + 2.0);
    let mut children = Vec::new();
    for i in 0..n {
        let part = BenchConfig {
            connections: cfg.connections / n + usize::from(i < cfg.connections % n),
            load: Load::Storm(nines_driver::config::Storm {
                connect_rate: st.connect_rate / n as f64,
                ..st
            }),
            // Each child takes every n-th source address.
            source_addrs: cfg
                .source_addrs
                .iter()
                .skip(i)
                .step_by(n)
                .copied()
                .collect(),
            start_at_unix_s: Some(start_at),
            ..cfg.clone()
        };
        let plan = dir.join(format!("part-{i}.config.json"));
        let json: PathBuf = dir.join(format!("part-{i}.json"));
        let text = serde_json::to_vec(&part).map_err(|e| e.to_string())?;
        std::fs::write(&plan, text).map_err(|e| format!("{}: {e}", plan.display()))?;
        let child = Command::new(&exe)
            .arg("storm")
            .arg("--run-config")
            .arg(&plan)
            .args(["-q", "--json"])
            .arg(&json)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start a storm process: {e}"))?;
        children.push((child, json));
    }
    let mut parts = Vec::new();
    for (mut child, json) in children {
        let status = child.wait().map_err(|e| e.to_string())?;
        match load_report(&json) {
            Ok(r) => parts.push((json.display().to_string(), r)),
            Err(e) => return Err(format!("a storm process ({status}) left no result: {e}")),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    merge(parts).map_err(|e| e.to_string())
}
