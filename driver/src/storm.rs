//! `nines storm`: the run (the storm threads of engine/storm.rs, through the same run code as
//! bench), plus what a storm reports about memory: the driver's and the server's resident size
//! and kernel socket memory, before the storm and while every connection is held, from /proc.
//! The server's processes are found by the port they listen on (local targets only).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nines_common::usage::UsageError;

use crate::config::{BenchConfig, Load, Target};
use crate::host::{self, SockStat};
use crate::report::storm::Memory;
use crate::report::{LoadSummary, Report};
use crate::run::{resolve, run, Hooks, RunError};

/// How often memory is sampled during the storm.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// One sample of memory.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    /// When it was taken, seconds since the Unix epoch: the run's own timeline is in those
    /// units (a storm may wait for `--start-at` before its clock starts).
    at_unix_s: f64,
    driver_kib: u64,
    server_kib: u64,
    sockstat: SockStat,
}

/// Runs a storm (`cfg.load` is [`Load::Storm`]) and adds memory figures to its report.
pub fn run_storm(cfg: &BenchConfig, hooks: &mut Hooks<'_>) -> Result<Report, RunError> {
    let Load::Storm(st) = cfg.load else {
        return Err(RunError::Usage(vec![UsageError::new(
            "--connect-rate",
            "nines storm runs a storm load: connections opened at a rate and held",
        )]));
    };
    let server_pids = match &cfg.target {
        Target::Address(t) => resolve(t).map(host::server_pids).unwrap_or_default(),
        Target::Embedded { .. } => Vec::new(),
    };
    let before = sample(&server_pids);
    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (samples, stop, pids) = (samples.clone(), stop.clone(), server_pids.clone());
        std::thread::Builder::new()
            .name("nines-storm-memory".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(SAMPLE_EVERY);
                    let s = sample(&pids);
                    samples.lock().expect("sampler lock").push(s);
                }
            })
            .map_err(RunError::Thread)?
    };
    let result = run(cfg, hooks);
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let mut report = result?;
    // "Holding": the last sample before the hold ends (every connection started by then), on
    // the run's timeline, which starts when the load does (after any --start-at).
    let hold_end = report.started_unix_s + (st.ramp(cfg.connections) + st.hold).as_secs_f64();
    let samples = samples.lock().expect("sampler lock");
    let holding = samples
        .iter()
        .rev()
        .find(|s| s.at_unix_s + SAMPLE_EVERY.as_secs_f64() <= hold_end)
        .or_else(|| samples.last())
        .copied();
    if let (LoadSummary::Storm(summary), Some(h)) = (&mut report.load, holding) {
        let open = summary.open_at_end;
        let memory = |b: u64, h: u64| Memory {
            rss_before_kib: b,
            rss_holding_kib: h,
            bytes_per_connection: (open > 0)
                .then(|| (h.saturating_sub(b) * 1024) as f64 / open as f64),
        };
        summary.driver_memory = Some(memory(before.driver_kib, h.driver_kib));
        // A server whose processes are gone (it died during the storm) was not measured.
        if !server_pids.is_empty() && h.server_kib > 0 {
            summary.server_memory = Some(memory(before.server_kib, h.server_kib));
            summary.server_pids = server_pids;
        }
        summary.sockstat_before = Some(before.sockstat);
        summary.sockstat_holding = Some(h.sockstat);
    }
    Ok(report)
}

fn sample(server_pids: &[u32]) -> Sample {
    Sample {
        at_unix_s: crate::clock::unix_now_s(),
        driver_kib: host::rss_kib("self"),
        server_kib: server_pids
            .iter()
            .map(|p| host::rss_kib(&p.to_string()))
            .sum(),
        sockstat: host::sockstat(),
    }
}
