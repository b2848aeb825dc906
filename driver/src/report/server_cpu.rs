//! The server's CPU during a run, as a report keeps it: its busiest thread, all its threads, and
//! its CPU per reply. An event-loop server is saturated when its busiest thread is on CPU nearly
//! all the time, whatever the other threads do, so the busiest thread's share is kept beside the
//! total. The figures come from /proc when the server is on this machine (the run measures them)
//! or from a nines-server's own Stats replies ([`from_stats`]).

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
pub(crate) fn summarize(
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
pub(crate) fn pct(ns: u64, wall_s: f64) -> f64 {
    100.0 * ns as f64 / 1e9 / wall_s.max(1e-9)
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
}
