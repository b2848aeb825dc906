//! `nines storm`: the run (one process, or `--processes N` children whose Reports are merged),
//! a live line per second, and the seed's statistics at the end.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::builder::TypedValueParser as _;
use clap::Args;
use nines_common::units::{thousands, HumanDuration};
use nines_common::usage::{exit_with, UsageError};
use nines_driver::config::{defaults, BenchConfig, Load, Target};
use nines_driver::observer::{Event, Observer};
use nines_driver::report::{load_report, merge, write_atomic, CutShort, Origin, Outcome, Report};
use nines_driver::run::{check_sources, resolve, start_embedded, Hooks, RunError};
use serde::{Deserialize, Serialize};

use crate::exit::{
    fail, finish, interrupt_on_signals, raise_nofile, stopping_signals, watch_signals, Mask, Second,
};
use crate::flags::load::StormFlags;
use crate::flags::output::{FlameFlags, GateFlags, OutputFlags, WatchFlags};
use crate::flags::request::RequestFlags;
use crate::flags::target::{TargetFlags, STORM};
use crate::flags::with_default;

/// Every flag of `nines storm`. The request flags a storm never reads (it sends echo messages)
/// are hidden from its help and refused when given.
#[derive(Args, Debug)]
#[command(
    mut_arg("target", |a| a.help("Server to storm: host:port (nines, or --protocol echo), or ws://host:port/path. Omit to embed a server (it then shares this process's descriptors)")),
    mut_arg("connections", |a| a.help(with_default("Connections to open", defaults::STORM_CONNECTIONS))),
    mut_arg("connect_timeout", |a| a.help(with_default(
        "A connect (and handshake) not done in this long is a connection timeout",
        HumanDuration(defaults::STORM_CONNECT_TIMEOUT),
    ))),
    mut_arg("protocol", |a| a
        .help("Wire protocol: what the server echoes [default: the target URL's scheme, else nines]")
        .value_parser(clap::builder::PossibleValuesParser::new(["nines", "echo", "ws"])
            .try_map(|s: String| s.parse::<nines_driver::config::Protocol>()))),
    mut_arg("op", |a| a.hide(true)),
    mut_arg("work_us", |a| a.hide(true)),
    mut_arg("method", |a| a.hide(true)),
    mut_arg("body", |a| a.hide(true)),
    mut_arg("accept", |a| a.hide(true)),
    mut_arg("command", |a| a.hide(true)),
    mut_arg("keyspace", |a| a.hide(true)),
)]
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
    pub flame: FlameFlags,
    #[command(flatten)]
    pub gate: GateFlags,
    #[command(flatten)]
    pub watch: WatchFlags,
    /// Run one part of a `--processes` storm exactly as its parent planned it (a file the
    /// parent writes); nothing else may be given with it.
    #[arg(long, hide = true, value_name = "FILE", exclusive = true)]
    pub run_part: Option<PathBuf>,
}

/// One child's part of a storm over processes: the configuration the parent built, with its
/// shares, and where the child writes its result.
#[derive(Debug, Serialize, Deserialize)]
struct Part {
    config: BenchConfig,
    json: PathBuf,
    /// The parent's pid: a child whose parent is already gone when it asks to die with it
    /// stops at once.
    parent: u32,
}

impl StormArgs {
    /// The storm the flags describe.
    pub fn config(&self) -> Result<BenchConfig, Vec<UsageError>> {
        let p = self.storm.processes;
        if !(1..=defaults::MAX_STORM_PROCESSES).contains(&p) {
            let why = "driver processes, each with its own descriptor limit";
            return Err(vec![UsageError::range(
                "--processes",
                p,
                1,
                defaults::MAX_STORM_PROCESSES,
                why,
            )]);
        }
        if p > 1 {
            // The parent only merges: what watches a run live runs in each child, quietly.
            let live = [
                ("--stats-stream", self.watch.stats_stream.is_some()),
                ("--progress", self.watch.progress),
            ];
            let refused = crate::flags::refuse_given(
                &live,
                "shows one process's run live; with --processes N the storm is N runs, merged at the end (drop it, or run one process)",
            );
            if !refused.is_empty() {
                return Err(refused);
            }
        }
        super::one_stdout(&self.output, &self.watch).map_err(|e| vec![e])?;
        self.output.check_with(&[self.flame.file()])?;
        let connections = self.target.one_level(STORM).map_err(|e| vec![e])?;
        // (No connections at all is --connections' own error, named when the run is checked.)
        if p > connections && connections > 0 {
            let why = format!("{p}: more processes than the {connections} connections to share");
            return Err(vec![UsageError::new("--processes", why)]);
        }
        let sources = self.target.source.as_ref().map_or(0, |s| s.0.len());
        if p > 1 && sources > 0 && sources < p {
            let why = format!(
                "{sources} address(es) for {p} processes: each process takes its own; give at least {p}, or drop --source"
            );
            return Err(vec![UsageError::new("--source", why)]);
        }
        let request = self
            .request
            .requests(self.target.target.as_deref(), defaults::SEED)?;
        self.gate.check_lines(&request).map_err(|e| vec![e])?;
        let load = self.storm.load()?;
        if p > 1 && self.flame.flame.is_some() {
            let why = "samples the target over one run's window; with --processes N the storm is N runs (run one process to sample it)";
            return Err(vec![UsageError::new("--flame", why)]);
        }
        let mut cfg = self
            .target
            .config(STORM, connections, load, request)
            .map_err(|e| vec![e])?;
        cfg.flame = self.flame.flame_spec();
        Ok(cfg)
    }
}

/// `nines storm`.
pub fn storm(a: &StormArgs) -> ExitCode {
    if let Some(plan) = &a.run_part {
        return run_part(plan);
    }
    let cfg = a.config().unwrap_or_else(|e| exit_with(&e));
    // Checked against the limit nines runs with (and its children inherit): the soft limit
    // raised to the hard one.
    raise_nofile();
    let usage = nines_driver::run::validate_over(&cfg, a.storm.processes);
    if !usage.is_empty() {
        exit_with(&usage);
    }
    let report = if a.storm.processes > 1 {
        if let Err(e) = target_answers(&cfg) {
            match e {
                RunError::Usage(errors) => exit_with(&errors),
                e => return fail(&e),
            }
        }
        match spread(a.storm.processes, &cfg) {
            Ok(r) => r,
            Err(e) => return fail(&e),
        }
    } else {
        let mut live = Live {
            open: 0,
            enabled: a.watch.live(),
        };
        match super::watched(&a.watch, a.gate.stop_on(), &mut live, |hooks| {
            nines_driver::storm::run_storm(&cfg, hooks)
        }) {
            Err(e) => return fail(&e),
            Ok(Ok(r)) => r,
            Ok(Err(RunError::Usage(errors))) => exit_with(&errors),
            Ok(Err(e)) => return fail(&e),
        }
    };
    let mut report = report;
    super::record_command(&mut report);
    super::judge(&mut report, &a.gate);
    let written = crate::output::emit(
        &report,
        &a.output,
        a.flame.flame.as_deref(),
        a.watch.stream_to_stdout(),
    );
    finish(&report, written)
}

/// Whether the target resolves and answers and `--source` can reach it, checked once here
/// rather than by every child (one process checks it when it opens the target).
fn target_answers(cfg: &BenchConfig) -> Result<(), RunError> {
    let addr = match &cfg.target {
        Target::Address(t) => {
            let addr = resolve(t)?;
            std::net::TcpStream::connect_timeout(&addr, cfg.connect_timeout)
                .map_err(|source| RunError::Connect { addr, source })?;
            // A certificate that does not verify: one line here, not one per child.
            nines_driver::run::tls_client(cfg, addr)?;
            addr
        }
        // The embedded server listens on 127.0.0.1.
        Target::Embedded { .. } => std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    check_sources(&cfg.source_addrs, addr)
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
            ..
        } = e
        else {
            return;
        };
        self.open = (self.open + iv.opened).saturating_sub(iv.lost + iv.closed);
        if !self.enabled {
            return;
        }
        let p99 = if iv.hist.is_empty() {
            "-".to_string()
        } else {
            format!("{:.0} µs", iv.hist.value_at_quantile(0.99) as f64 / 1000.0)
        };
        crate::console::line(format_args!(
            "[{elapsed_s:>6.1}s] open {:>9}  +{:<7} lost {:<6} echoes {:>8}  p99 {p99:>10}  errors {}",
            thousands(self.open),
            thousands(iv.opened),
            thousands(iv.lost),
            thousands(iv.hist.len()),
            thousands(*errors)
        ));
    }
}

/// A child: runs its part quietly and writes its result where the parent reads it.
fn run_part(plan: &std::path::Path) -> ExitCode {
    let part: Part = match std::fs::read(plan)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(p) => p,
        Err(e) => return fail(&format!("{}: {e}", plan.display())),
    };
    raise_nofile();
    // A child stops, and writes what it measured, on the first stopping signal, and never
    // dies of a second: a Ctrl-C or hang-up reaches it from the terminal and again from its
    // parent. It does stop with its parent (SIGTERM, which it also takes as "stop and write").
    // The parent started it with those signals blocked: one sent before they are watched
    // waits, and is taken once they are.
    let interrupt = Arc::new(AtomicBool::new(false));
    if let Err(e) = watch_signals(interrupt.clone(), Second::Ignored) {
        return fail(&format!("cannot watch for signals: {e}"));
    }
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
    if std::os::unix::process::parent_id() != part.parent {
        interrupt.store(true, Ordering::SeqCst);
    }
    stopping_signals(Mask::Unblock);
    let mut hooks = Hooks {
        interrupt: Some(interrupt),
        ..Hooks::default()
    };
    match nines_driver::storm::run_storm(&part.config, &mut hooks) {
        Ok(r) => {
            let json = nines_driver::report::render(&r, nines_driver::report::Format::Json);
            match write_atomic(&part.json, json.as_bytes()) {
                Ok(()) => finish(&r, true),
                Err(e) => fail(&format!("cannot write {}: {e}", part.json.display())),
            }
        }
        Err(e) => fail(&e),
    }
}

/// The children of a storm over processes and their scratch directory: when the parent ends,
/// the children are stopped and the directory removed (a parent killed outright takes its
/// children with it: they ask for SIGTERM when it dies; only its directory stays).
struct Children {
    dir: PathBuf,
    running: Vec<(Child, PathBuf)>,
}

impl Drop for Children {
    fn drop(&mut self) {
        for (child, _) in &mut self.running {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `--processes N`: N child `nines storm` processes, each with its share of the connections
/// and of the connect rate (and of `--source`), started together against one server (an
/// embedded one is started here, once); their JSON Reports merged. Ctrl-C is passed on to the
/// children, which stop and write what they measured.
fn spread(n: usize, cfg: &BenchConfig) -> Result<Report, String> {
    let Load::Storm(st) = cfg.load else {
        return Err("only a storm is spread over processes".into());
    };
    // Watched before anything starts: a signal while the children start still reaches them.
    let interrupt = interrupt_on_signals();
    let embedded = match cfg.target {
        Target::Embedded { server_workers } => {
            Some(start_embedded(cfg.request.first(), server_workers).map_err(|e| e.to_string())?)
        }
        Target::Address(_) => None,
    };
    let target = match &embedded {
        Some(s) => Target::Address(s.local_addr().to_string()),
        None => cfg.target.clone(),
    };
    let dir = std::env::temp_dir().join(format!("nines-storm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut children = Children {
        dir,
        running: Vec::new(),
    };
    start_parts(n, cfg, st, target, &mut children)?;
    let interrupted = wait_passing_signals(&mut children.running, &interrupt)?;
    let command: Vec<String> = std::env::args().collect();
    let mut parts = Vec::new();
    let mut lost = Vec::new();
    for (i, (child, json)) in children.running.iter_mut().enumerate() {
        let status = child.wait().map_err(|e| e.to_string())?;
        match load_report(json) {
            Ok(mut r) => {
                // Each part records the command the user gave, not the parent's plumbing.
                if let Origin::Run { manifest } = &mut r.origin {
                    manifest.command.clone_from(&command);
                }
                parts.push((format!("part {} of {n}", i + 1), r));
            }
            Err(e) => {
                let part = format!("storm process {} of {n} (pid {})", i + 1, child.id());
                let how = how_it_ended(status);
                crate::console::line(format_args!(
                    "nines: {part} ended ({how}) and left no result: {e}"
                ));
                lost.push(CutShort::PartLost { part, how });
            }
        }
    }
    if parts.is_empty() {
        return Err("no storm process left a result".into());
    }
    let mut report = merge(parts).map_err(|e| e.to_string())?;
    if let Some(why) = lost.into_iter().next() {
        report.outcome = Outcome::CutShort(why);
    } else if interrupted {
        report.outcome = Outcome::CutShort(CutShort::Interrupted);
    }
    drop(embedded);
    Ok(report)
}

/// How a child ended, in words: "killed by SIGKILL", "exit status 1".
fn how_it_ended(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => match nix::sys::signal::Signal::try_from(sig) {
            Ok(s) => format!("killed by {s}"),
            Err(_) => format!("killed by signal {sig}"),
        },
        (None, None) => status.to_string(),
    }
}

/// Writes each child's part (its share of the connections, of the connect rate and of the
/// source addresses, all loading `target` and starting together) and starts the child.
fn start_parts(
    n: usize,
    cfg: &BenchConfig,
    st: nines_driver::config::Storm,
    target: Target,
    children: &mut Children,
) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = children.dir.clone();
    // Every child starts at the same moment, once all have been spawned.
    let start_at = cfg
        .start_at_unix_s
        .unwrap_or_else(|| nines_driver::clock::unix_now_s() + 2.0);
    for i in 0..n {
        let part = Part {
            config: BenchConfig {
                target: target.clone(),
                connections: cfg.connections / n + usize::from(i < cfg.connections % n),
                load: Load::Storm(nines_driver::config::Storm {
                    connect_rate: st.connect_rate / n as f64,
                    // Each part's connections draw gaps of their own (a part numbers its
                    // threads from 0, as every other part does): part i seeds with seed + i.
                    seed: st.seed.wrapping_add(i as u64),
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
            },
            json: dir.join(format!("part-{i}.json")),
            parent: std::process::id(),
        };
        let plan = dir.join(format!("part-{i}.plan.json"));
        let text = serde_json::to_vec(&part).map_err(|e| e.to_string())?;
        std::fs::write(&plan, text).map_err(|e| format!("{}: {e}", plan.display()))?;
        let mut cmd = Command::new(&exe);
        cmd.arg("storm")
            .arg("--run-part")
            .arg(&plan)
            .stdout(Stdio::null());
        // SAFETY: between fork and exec, only sigprocmask(2), async-signal-safe, on the new
        // process's own mask: the child takes a Ctrl-C passed on before it watches for one.
        unsafe {
            cmd.pre_exec(|| {
                stopping_signals(Mask::Block);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start a storm process: {e}"))?;
        children.running.push((child, part.json));
    }
    Ok(())
}

/// Waits for every child; a Ctrl-C (or SIGTERM) here is passed on to them once, so each stops
/// and writes what it measured. Returns whether the storm was interrupted.
fn wait_passing_signals(
    children: &mut [(Child, PathBuf)],
    interrupt: &AtomicBool,
) -> Result<bool, String> {
    let mut passed_on = false;
    loop {
        let mut running = 0;
        for (child, _) in children.iter_mut() {
            if child.try_wait().map_err(|e| e.to_string())?.is_none() {
                running += 1;
            }
        }
        if running == 0 {
            return Ok(passed_on);
        }
        if interrupt.load(Ordering::Relaxed) && !passed_on {
            passed_on = true;
            for (child, _) in children.iter() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(child.id() as i32),
                    nix::sys::signal::Signal::SIGINT,
                );
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
