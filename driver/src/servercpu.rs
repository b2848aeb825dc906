//! The server's CPU during a run, from /proc, when the server is on this machine: its processes
//! are found by the port they listen on (the embedded server's threads are this process's
//! `nines-worker-*`/`nines-acceptor-*`/`nines-conn` threads). An event-loop server is saturated
//! when its busiest thread is on CPU nearly all the time, whatever the other threads do, so the
//! busiest thread's share is kept beside the total.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// What the server's threads used during a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServerCpu {
    /// Processes measured.
    pub pids: Vec<u32>,
    /// CPU time of all their threads as a percentage of the run's wall time (100 = one core).
    pub total_pct: f64,
    /// The busiest thread's CPU time as a percentage of the wall time.
    pub busiest_thread_pct: f64,
    /// Its name.
    pub busiest_thread: String,
}

/// CPU ticks per thread, keyed by pid/tid, with the thread's name.
type Ticks = BTreeMap<(u32, u32), (String, u64)>;

/// A measurement in progress.
#[derive(Debug)]
pub struct Meter {
    pids: Vec<u32>,
    embedded: bool,
    before: Ticks,
    started: Instant,
}

impl Meter {
    /// Starts measuring the server at `addr` (or, `embedded`, this process's server threads);
    /// `None` when no local process can be found.
    pub fn start(addr: SocketAddr, embedded: bool) -> Option<Meter> {
        let pids = if embedded {
            vec![std::process::id()]
        } else {
            crate::storm::server_pids(addr)
        };
        if pids.is_empty() {
            return None;
        }
        Some(Meter {
            before: ticks(&pids, embedded),
            pids,
            embedded,
            started: Instant::now(),
        })
    }

    /// What the server used since [`Meter::start`].
    pub fn finish(self) -> ServerCpu {
        let wall = self.started.elapsed().as_secs_f64().max(1e-9);
        let after = ticks(&self.pids, self.embedded);
        let hz = clock_ticks_per_second();
        let mut total = 0u64;
        let mut busiest = (String::new(), 0u64);
        for (key, (name, t)) in &after {
            let used = t.saturating_sub(self.before.get(key).map_or(0, |b| b.1));
            total += used;
            if used > busiest.1 {
                busiest = (name.clone(), used);
            }
        }
        let pct = |t: u64| 100.0 * t as f64 / hz / wall;
        ServerCpu {
            pids: self.pids,
            total_pct: pct(total),
            busiest_thread_pct: pct(busiest.1),
            busiest_thread: busiest.0,
        }
    }
}

/// A nines-server's CPU from two Stats replies `wall_s` apart, when /proc cannot see it (it
/// runs on another machine): its workers' awake time (`phase_busy_ns`) over the wall time. The
/// Stats op sums over workers, so the "busiest thread" is the workers' average; none when the
/// server reports no workers (the thread-per-connection model).
pub fn from_stats(
    before: &[(String, u64)],
    after: &[(String, u64)],
    wall_s: f64,
) -> Option<ServerCpu> {
    let get = |v: &[(String, u64)], k: &str| v.iter().find(|(n, _)| n == k).map(|(_, x)| *x);
    let workers = get(after, "workers").filter(|&w| w > 0)?;
    let busy = get(after, "phase_busy_ns")?.saturating_sub(get(before, "phase_busy_ns")?);
    let total_pct = 100.0 * busy as f64 / 1e9 / wall_s.max(1e-9);
    Some(ServerCpu {
        pids: Vec::new(),
        total_pct,
        busiest_thread_pct: total_pct / workers as f64,
        busiest_thread: format!("the average of {workers} nines-server workers (Stats op)"),
    })
}

fn ticks(pids: &[u32], embedded: bool) -> Ticks {
    let mut out = Ticks::new();
    for &pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
                continue;
            };
            // The name is in parentheses and may hold spaces; utime and stime are fields 14 and
            // 15, i.e. the 12th and 13th after the closing parenthesis.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let name = stat[open + 1..close].to_string();
            if embedded && !is_server_thread(&name) {
                continue;
            }
            let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            out.insert((pid, tid), (name, field(11) + field(12)));
        }
    }
    out
}

/// The embedded server's threads, by the names nines-server gives them.
fn is_server_thread(name: &str) -> bool {
    name.starts_with("nines-worker") || name.starts_with("nines-accept") || name == "nines-conn"
}

fn clock_ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |v| v as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_servers_cpu_comes_from_its_stats() {
        let v = |busy: u64, workers: u64| {
            vec![
                ("phase_busy_ns".to_string(), busy),
                ("workers".to_string(), workers),
            ]
        };
        let c = from_stats(&v(0, 2), &v(3_000_000_000, 2), 2.0).unwrap();
        assert_eq!((c.total_pct, c.busiest_thread_pct), (150.0, 75.0));
        assert!(
            from_stats(&v(0, 0), &v(1, 0), 1.0).is_none(),
            "no workers, no figure"
        );
    }

    #[test]
    fn a_busy_thread_of_this_process_is_measured() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let m = Meter {
            pids: vec![std::process::id()],
            embedded: false,
            before: ticks(&[std::process::id()], false),
            started: Instant::now(),
        };
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        // The thread spins, then waits (alive, so /proc still lists it) until measured.
        let spin = std::thread::spawn(move || {
            let t = Instant::now();
            let mut x = 0u64;
            while t.elapsed().as_millis() < 300 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(350));
        let c = m.finish();
        done.store(true, Ordering::Relaxed);
        spin.join().unwrap();
        assert!(c.busiest_thread_pct > 50.0, "{c:?}");
        assert!(c.total_pct >= c.busiest_thread_pct);
    }
}
