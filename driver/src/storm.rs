//! `nines storm`: the run (the storm threads of engine/storm.rs, through the same run code as
//! bench), plus what a storm reports about memory: the driver's and the server's resident size
//! and kernel socket memory, before the storm and while every connection is held, from /proc.
//! The server's processes are found by the port they listen on (local targets only).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::BenchConfig;
use crate::report::storm::{Memory, SockStat};
use crate::report::Report;
use crate::run::{resolve, run, Hooks, RunError};

/// How often memory is sampled during the storm.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// One sample of memory.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    at: Duration,
    driver_kib: u64,
    server_kib: u64,
    sockstat: SockStat,
}

/// Runs a storm (`cfg.storm` set) and adds memory figures to its report.
pub fn run_storm(cfg: &BenchConfig, hooks: &mut Hooks<'_>) -> Result<Report, RunError> {
    let st = cfg.storm.expect("a storm config");
    let server_pids = match &cfg.target {
        Some(t) => resolve(t).map(server_pids).unwrap_or_default(),
        None => Vec::new(),
    };
    let before = sample(Duration::ZERO, &server_pids);
    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (samples, stop, pids) = (samples.clone(), stop.clone(), server_pids.clone());
        std::thread::Builder::new()
            .name("nines-storm-memory".into())
            .spawn(move || {
                let t0 = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(SAMPLE_EVERY);
                    let s = sample(t0.elapsed(), &pids);
                    samples.lock().expect("sampler lock").push(s);
                }
            })
            .map_err(RunError::Thread)?
    };
    let result = run(cfg, hooks);
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let mut report = result?;
    // "Holding": the last sample before the hold ends (every connection started by then).
    let hold_end = st.ramp(cfg.connections) + st.hold;
    let samples = samples.lock().expect("sampler lock");
    let holding = samples
        .iter()
        .rev()
        .find(|s| s.at + SAMPLE_EVERY <= hold_end)
        .or_else(|| samples.last())
        .copied();
    if let (Some(summary), Some(h)) = (report.storm.as_mut(), holding) {
        let open = summary.open_at_end;
        let memory = |b: u64, h: u64| Memory {
            rss_before_kib: b,
            rss_holding_kib: h,
            bytes_per_connection: (open > 0)
                .then(|| (h.saturating_sub(b) * 1024) as f64 / open as f64),
        };
        summary.driver_memory = Some(memory(before.driver_kib, h.driver_kib));
        if !server_pids.is_empty() {
            summary.server_memory = Some(memory(before.server_kib, h.server_kib));
            summary.server_pids = server_pids;
        }
        summary.sockstat_before = Some(before.sockstat);
        summary.sockstat_holding = Some(h.sockstat);
    }
    Ok(report)
}

fn sample(at: Duration, server_pids: &[u32]) -> Sample {
    Sample {
        at,
        driver_kib: rss_kib("self"),
        server_kib: server_pids.iter().map(|p| rss_kib(&p.to_string())).sum(),
        sockstat: sockstat(),
    }
}

/// VmRSS of /proc/PID/status, KiB (0 if unreadable).
pub fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The TCP line of /proc/net/sockstat.
fn sockstat() -> SockStat {
    let text = std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    let mut s = SockStat::default();
    if let Some(line) = text.lines().find(|l| l.starts_with("TCP:")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        for w in f.windows(2) {
            match w[0] {
                "inuse" => s.tcp_inuse = w[1].parse().unwrap_or(0),
                "mem" => s.tcp_mem_pages = w[1].parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    s
}

/// The processes with a socket listening on `addr`'s port (this machine's /proc; empty when
/// the target is elsewhere or /proc cannot say), this process excluded.
pub fn server_pids(addr: SocketAddr) -> Vec<u32> {
    let me = std::process::id();
    listening_pids(addr)
        .into_iter()
        .filter(|&p| p != me)
        .collect()
}

/// Whether this process itself listens on `addr`'s port: the target is a server embedded here
/// (a sweep's, started once for all its steps).
pub fn served_here(addr: SocketAddr) -> bool {
    listening_pids(addr) == [std::process::id()]
}

/// Every process with a socket listening on `addr`'s port, this one included.
fn listening_pids(addr: SocketAddr) -> Vec<u32> {
    let port = addr.port();
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; the inode is field 9.
            let listening = f.get(3) == Some(&"0A");
            let at_port = f
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok())
                == Some(port);
            if listening && at_port {
                if let Some(inode) = f.get(9) {
                    inodes.push(format!("socket:[{inode}]"));
                }
            }
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten();
        let owns = fds
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .any(|link| link.to_str().is_some_and(|l| inodes.iter().any(|i| i == l)));
        if owns {
            pids.push(pid);
        }
    }
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_readings() {
        assert!(rss_kib("self") > 0);
        assert!(sockstat().tcp_inuse > 0 || std::path::Path::new("/proc/net/sockstat").exists());
        // A listener in a child process is found by its port.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert!(server_pids(addr).is_empty(), "this process is excluded");
    }
}
