//! Measuring the server's CPU over a run: from /proc when the server is on this machine (its
//! processes found by the port they listen on; a server embedded in this process by its threads'
//! names), else from two Stats replies of a nines-server elsewhere (it reads its own /proc).

use crate::transport::TlsClient;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::host::perf::Sampled;
use crate::host::{self, ThreadTimes};
use crate::report::server_cpu::{from_stats, pct, summarize, ServerCpu};

/// A measurement in progress.
#[derive(Debug)]
pub(crate) enum Meter {
    /// The server's processes are on this machine.
    Local(Local),
    /// A nines-server elsewhere: its Stats reply at the start.
    Stats {
        before: Vec<(String, u64)>,
        started: Instant,
    },
}

/// Server processes (or this process's server threads) read from /proc.
#[derive(Debug)]
pub(crate) struct Local {
    pids: Vec<u32>,
    /// Only nines-server's threads of this process (the server is embedded beside the driver).
    embedded: bool,
    before: ThreadTimes,
    /// The processes' own CPU time (exited threads included), when not embedded.
    before_total: Option<u64>,
    started: Instant,
}

impl Meter {
    /// Starts measuring the server at `addr` (or, `embedded`, this process's server threads);
    /// for a nines-server /proc cannot see (`nines` says whether the target speaks nines), its
    /// Stats reply. `None` when neither can be had.
    pub(crate) fn start(
        addr: SocketAddr,
        embedded: bool,
        nines: bool,
        tls: Option<&TlsClient>,
        timeout: Duration,
    ) -> Option<Meter> {
        if let Some(local) = Local::start(addr, embedded) {
            return Some(Meter::Local(local));
        }
        if !nines {
            return None;
        }
        let before = super::stats::fetch(addr, tls, timeout).ok()?;
        Some(Meter::Stats {
            before,
            started: Instant::now(),
        })
    }

    /// What the server used since [`Meter::start`] (none if its last Stats reply is missing or
    /// has no CPU figures).
    pub(crate) fn finish(
        self,
        addr: SocketAddr,
        tls: Option<&TlsClient>,
        timeout: Duration,
    ) -> Option<ServerCpu> {
        match self {
            Meter::Local(l) => l.finish(),
            Meter::Stats { before, started } => {
                let after = super::stats::fetch(addr, tls, timeout).ok()?;
                from_stats(&before, &after, started.elapsed().as_secs_f64())
            }
        }
    }
}

impl Meter {
    /// The server's processes, when they are on this machine apart from the driver.
    pub(crate) fn server_pids(&self) -> Option<Vec<u32>> {
        match self {
            Meter::Local(l) if !l.embedded => Some(l.pids.clone()),
            _ => None,
        }
    }

    /// The same measurement started again from now (after a wait that is not the run's).
    pub(crate) fn restarted(self) -> Meter {
        match self {
            Meter::Local(l) => Meter::Local(Local::of(l.pids, l.embedded)),
            stats => stats,
        }
    }

    /// What perf samples of the server: its processes, or this process's server threads.
    pub(crate) fn sampled(&self) -> Option<Sampled> {
        match self {
            Meter::Local(l) if l.embedded => Some(Sampled::Threads(
                l.before.keys().map(|&(_, tid)| tid).collect(),
            )),
            Meter::Local(l) => Some(Sampled::Processes(l.pids.clone())),
            Meter::Stats { .. } => None,
        }
    }
}

impl Local {
    fn start(addr: SocketAddr, embedded: bool) -> Option<Local> {
        // A target this process serves (a sweep's embedded server) is measured as embedded:
        // by its threads' names, not as a process that would include the driver.
        let embedded = embedded || host::served_here(addr);
        let pids = if embedded {
            vec![std::process::id()]
        } else {
            host::server_pids(addr)
        };
        if pids.is_empty() {
            return None;
        }
        Some(Local::of(pids, embedded))
    }

    fn of(pids: Vec<u32>, embedded: bool) -> Local {
        Local {
            before: host::thread_times(&pids, embedded),
            before_total: (!embedded).then(|| host::process_cpu_ns(&pids)).flatten(),
            pids,
            embedded,
            started: Instant::now(),
        }
    }

    /// None when the server's threads are gone (it exited during the run): a dead server was
    /// not measured, however little CPU its remains show.
    fn finish(self) -> Option<ServerCpu> {
        let wall = self.started.elapsed().as_secs_f64();
        let after = host::thread_times(&self.pids, self.embedded);
        if after.is_empty() {
            return None;
        }
        let used = after.iter().map(|(key, (name, ns))| {
            let before = self.before.get(key).map_or(0, |b| b.1);
            (name.clone(), ns.saturating_sub(before))
        });
        let total = self
            .before_total
            .and_then(|b| Some(host::process_cpu_ns(&self.pids)?.saturating_sub(b)));
        let mut c = summarize(self.pids, used, wall, "");
        // Threads that ended during the run (a thread-per-connection server's, with their
        // connections) are gone from /proc/PID/task but counted in the process's own time.
        if let Some(total) = total.filter(|&t| pct(t, wall) > c.total_pct) {
            c.total_pct = pct(total, wall);
            c.cpu_s = total as f64 / 1e9;
        }
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_thread_of_this_process_is_measured() {
        use std::sync::mpsc;
        const SPIN: Duration = Duration::from_millis(300);
        let started = Instant::now();
        let m = Local::of(vec![std::process::id()], false);
        let (spun, done) = (mpsc::channel(), mpsc::channel::<()>());
        // The thread spins until it has had SPIN of CPU, says so, and stays alive (so /proc
        // still lists it) until measured: a condition, not a guess at how long that takes on a
        // machine busy with other tests.
        let (tx, rx) = (spun.0, done.1);
        let spin = std::thread::spawn(move || {
            let cpu0 = crate::engine::thread_cpu_time();
            let mut x = 0u64;
            while crate::engine::thread_cpu_time().saturating_sub(cpu0) < SPIN {
                for _ in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            tx.send(()).unwrap();
            let _ = rx.recv();
        });
        spun.1.recv().unwrap();
        let c = m.finish().expect("this process is alive");
        let wall = started.elapsed().as_secs_f64();
        done.0.send(()).unwrap();
        spin.join().unwrap();
        // The busiest thread had at least the spinner's CPU, over at most this much wall time.
        let floor = 100.0 * 0.95 * SPIN.as_secs_f64() / wall;
        assert!(c.busiest_thread_pct >= floor, "{c:?} (floor {floor:.1}%)");
        assert!(c.cpu_s >= 0.95 * SPIN.as_secs_f64(), "{c:?}");
        assert!(c.total_pct >= c.busiest_thread_pct);
    }
}
