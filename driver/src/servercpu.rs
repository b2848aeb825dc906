//! The server's CPU during a run, from /proc, when the server is on this machine: its processes
//! are found by the port they listen on (the embedded server's threads are this process's
//! `nines-worker-*`/`nines-accept-*`/`nines-conn` threads). An event-loop server is saturated
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
    /// CPU seconds all its threads used over the measurement (connecting, warm-up and the
    /// measured window: every reply of the run); 0 in results saved before it was kept.
    #[serde(default)]
    pub cpu_s: f64,
}

impl ServerCpu {
    /// Server CPU per reply, µs: its CPU over every reply of the run (warm-up included), the
    /// figure to compare servers, models or settings by. None without replies or a figure.
    pub fn per_reply_us(&self, replies: u64) -> Option<f64> {
        (replies > 0 && self.cpu_s > 0.0).then(|| self.cpu_s * 1e6 / replies as f64)
    }

    /// In words, for the text and Markdown summaries of a run with `replies` replies.
    pub fn describe(&self, replies: u64) -> String {
        let per_reply = self
            .per_reply_us(replies)
            .map_or(String::new(), |us| format!("; {us:.2} µs of CPU per reply"));
        format!(
            "busiest thread {:.0}% ({}), all threads {:.0}% of a core{per_reply}",
            self.busiest_thread_pct, self.busiest_thread, self.total_pct
        )
    }
}

/// CPU time per thread, keyed by pid/tid, with the thread's name.
type Times = BTreeMap<(u32, u32), (String, u64)>;

/// A measurement in progress.
#[derive(Debug)]
pub struct Meter {
    pids: Vec<u32>,
    embedded: bool,
    before: Times,
    /// The processes' own CPU time (exited threads included), when not embedded.
    before_total: Option<u64>,
    started: Instant,
}

/// The CPU time of whole processes (exited threads included), ns; None if one is unreadable.
fn processes(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|&p| nines_common::cpu::process(p)).sum()
}

impl Meter {
    /// Starts measuring the server at `addr` (or, `embedded`, this process's server threads);
    /// `None` when no local process can be found.
    pub fn start(addr: SocketAddr, embedded: bool) -> Option<Meter> {
        // A target this process serves (a sweep's embedded server) is measured as embedded:
        // by its threads' names, not as a process that would include the driver.
        let embedded = embedded || crate::storm::served_here(addr);
        let pids = if embedded {
            vec![std::process::id()]
        } else {
            crate::storm::server_pids(addr)
        };
        if pids.is_empty() {
            return None;
        }
        Some(Meter {
            before: times(&pids, embedded),
            before_total: (!embedded).then(|| processes(&pids)).flatten(),
            pids,
            embedded,
            started: Instant::now(),
        })
    }

    /// What the server used since [`Meter::start`].
    pub fn finish(self) -> ServerCpu {
        let wall = self.started.elapsed().as_secs_f64();
        let after = times(&self.pids, self.embedded);
        let used = after.iter().map(|(key, (name, ns))| {
            let before = self.before.get(key).map_or(0, |b| b.1);
            (name.clone(), ns.saturating_sub(before))
        });
        let total = self
            .before_total
            .and_then(|b| Some(processes(&self.pids)?.saturating_sub(b)));
        let mut c = summarize(self.pids, used, wall, "");
        // Threads that ended during the run (a thread-per-connection server's, with their
        // connections) are gone from /proc/PID/task but counted in the process's own time.
        if let Some(total) = total.filter(|&t| pct(t, wall) > c.total_pct) {
            c.total_pct = pct(total, wall);
            c.cpu_s = total as f64 / 1e9;
        }
        c
    }
}

/// A nines-server's CPU from two Stats replies `wall_s` apart, when /proc cannot see it (it
/// runs on another machine): the server reads its own /proc and sends its threads' total
/// (`cpu_ns`) and each worker's and acceptor's (`thread_cpu_ns:NAME:TID`). None when the reply
/// has no CPU figures (a server that predates them).
pub fn from_stats(
    before: &[(String, u64)],
    after: &[(String, u64)],
    wall_s: f64,
) -> Option<ServerCpu> {
    use nines_protocol::stats::{CPUS, CPU_NS, THREAD_CPU_NS};
    let get = |v: &[(String, u64)], k: &str| v.iter().find(|(n, _)| n == k).map(|(_, x)| *x);
    let total = get(after, CPU_NS)?.saturating_sub(get(before, CPU_NS)?);
    let threads = after.iter().filter_map(|(k, ns)| {
        let (name, _tid) = k.strip_prefix(THREAD_CPU_NS)?.rsplit_once(':')?;
        Some((
            name.to_string(),
            ns.saturating_sub(get(before, k).unwrap_or(0)),
        ))
    });
    let workers = threads
        .clone()
        .any(|(name, _)| name.starts_with(nines_common::cpu::WORKER_THREAD));
    let mut c = summarize(Vec::new(), threads, wall_s, " (Stats op)");
    // The total covers thread-per-connection threads too, which have no lines of their own.
    if pct(total, wall_s) > c.total_pct {
        c.total_pct = pct(total, wall_s);
        c.cpu_s = total as f64 / 1e9;
    }
    if !workers {
        // Thread-per-connection: no one thread carries the load, so the server is saturated
        // when all its threads fill the CPUs it may use.
        let cpus = get(after, CPUS).unwrap_or(1).max(1);
        c.busiest_thread_pct = c.total_pct / cpus as f64;
        c.busiest_thread =
            format!("all threads over {cpus} CPU(s), thread-per-connection (Stats op)");
    }
    Some(c)
}

/// The total and the busiest of `used` (name, nanoseconds) over `wall_s` seconds.
fn summarize(
    pids: Vec<u32>,
    used: impl Iterator<Item = (String, u64)>,
    wall_s: f64,
    source: &str,
) -> ServerCpu {
    let mut total = 0u64;
    let mut busiest = (String::new(), 0u64);
    for (name, ns) in used {
        total += ns;
        if ns > busiest.1 || busiest.0.is_empty() {
            busiest = (name, ns);
        }
    }
    ServerCpu {
        pids,
        total_pct: pct(total, wall_s),
        busiest_thread_pct: pct(busiest.1, wall_s),
        busiest_thread: format!("{}{source}", busiest.0),
        cpu_s: total as f64 / 1e9,
    }
}

/// `ns` as a percentage of `wall_s` seconds (100 = one core).
fn pct(ns: u64, wall_s: f64) -> f64 {
    100.0 * ns as f64 / 1e9 / wall_s.max(1e-9)
}

fn times(pids: &[u32], embedded: bool) -> Times {
    let mut out = Times::new();
    for &pid in pids {
        for t in nines_common::cpu::threads(pid) {
            if !embedded || nines_common::cpu::is_server_thread(&t.name) {
                out.insert((pid, t.tid), (t.name, t.ns));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_servers_cpu_comes_from_its_stats() {
        let v = |total: u64, w0: u64, w1: u64| {
            vec![
                ("requests".to_string(), 7),
                ("cpu_ns".to_string(), total),
                ("thread_cpu_ns:nines-worker-0:41".to_string(), w0),
                ("thread_cpu_ns:nines-worker-1:42".to_string(), w1),
            ]
        };
        let before = v(1_000_000_000, 400_000_000, 600_000_000);
        let after = v(4_000_000_000, 2_300_000_000, 1_700_000_000);
        let c = from_stats(&before, &after, 2.0).unwrap();
        assert_eq!((c.total_pct, c.busiest_thread_pct), (150.0, 95.0));
        assert_eq!(c.busiest_thread, "nines-worker-0 (Stats op)");
        assert_eq!(c.cpu_s, 3.0);
        assert_eq!(
            c.per_reply_us(1_000_000),
            Some(3.0),
            "3 s of CPU over 1M replies"
        );
        assert_eq!(c.per_reply_us(0), None);
        // Thread-per-connection: only the acceptor has a line; the total fills 2 CPUs by half.
        let v = |total: u64| {
            vec![
                ("cpu_ns".to_string(), total),
                ("cpus".to_string(), 2),
                ("thread_cpu_ns:nines-accept-0:9".to_string(), 1_000),
            ]
        };
        let c = from_stats(&v(0), &v(2_000_000_000), 2.0).unwrap();
        assert_eq!((c.total_pct, c.busiest_thread_pct), (100.0, 50.0));
        assert!(c.busiest_thread.contains("over 2 CPU(s)"), "{c:?}");
        let old = vec![("requests".to_string(), 7)];
        assert!(
            from_stats(&old, &old, 1.0).is_none(),
            "no cpu_ns, no figure"
        );
    }

    #[test]
    fn a_busy_thread_of_this_process_is_measured() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let m = Meter {
            pids: vec![std::process::id()],
            embedded: false,
            before: times(&[std::process::id()], false),
            before_total: processes(&[std::process::id()]),
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
