//! Kernel-side evidence: TCP counters read before and after a run, so a report shows when the
//! accept queue overflowed, segments were retransmitted or TIME_WAIT sockets piled up, even if
//! neither the driver nor the server saw an error.
//!
//! These are the counters of the kernel the driver runs on: over loopback that is the server's
//! kernel too; across machines, read the server machine's with `nstat` or from its own report.

use serde::{Deserialize, Serialize};

/// Counter values at one moment (absent files read as 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCounters {
    /// TcpExt ListenOverflows: connections completed while the accept queue was full.
    pub listen_overflows: u64,
    /// TcpExt ListenDrops: SYNs or connections dropped at a listener.
    pub listen_drops: u64,
    /// TcpExt TCPBacklogDrop: segments dropped because a socket's backlog was full.
    pub tcp_backlog_drop: u64,
    /// Tcp RetransSegs: segments retransmitted.
    pub retrans_segs: u64,
    /// Sockets in TIME_WAIT now (sockstat `tw`).
    pub time_wait: u64,
}

/// What changed during a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelDelta {
    /// ListenOverflows during the run: the accept queue was full (raise the backlog /
    /// net.core.somaxconn, or accept faster).
    pub listen_overflows: u64,
    /// ListenDrops during the run.
    pub listen_drops: u64,
    /// TCPBacklogDrop during the run.
    pub tcp_backlog_drop: u64,
    /// Segments retransmitted during the run.
    pub retrans_segs: u64,
    /// TIME_WAIT sockets before the run.
    pub time_wait_before: u64,
    /// TIME_WAIT sockets after the run.
    pub time_wait_after: u64,
}

impl KernelCounters {
    /// Reads /proc/net/netstat, /proc/net/snmp and /proc/net/sockstat.
    pub fn read() -> KernelCounters {
        let netstat = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
        let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
        let sockstat = std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
        KernelCounters {
            listen_overflows: proc_table_value(&netstat, "TcpExt", "ListenOverflows"),
            listen_drops: proc_table_value(&netstat, "TcpExt", "ListenDrops"),
            tcp_backlog_drop: proc_table_value(&netstat, "TcpExt", "TCPBacklogDrop"),
            retrans_segs: proc_table_value(&snmp, "Tcp", "RetransSegs"),
            time_wait: sockstat_tw(&sockstat),
        }
    }

    /// The change from `self` (before) to `after`.
    pub fn delta(&self, after: &KernelCounters) -> KernelDelta {
        KernelDelta {
            listen_overflows: after.listen_overflows.saturating_sub(self.listen_overflows),
            listen_drops: after.listen_drops.saturating_sub(self.listen_drops),
            tcp_backlog_drop: after.tcp_backlog_drop.saturating_sub(self.tcp_backlog_drop),
            retrans_segs: after.retrans_segs.saturating_sub(self.retrans_segs),
            time_wait_before: self.time_wait,
            time_wait_after: after.time_wait,
        }
    }
}

/// A value from the two-line tables of /proc/net/netstat and /proc/net/snmp:
/// `Prefix: Name1 Name2 ...` followed by `Prefix: v1 v2 ...`.
fn proc_table_value(text: &str, prefix: &str, name: &str) -> u64 {
    let tag = format!("{prefix}:");
    let mut lines = text.lines().filter(|l| l.starts_with(&tag));
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let names = names.split_whitespace().skip(1);
        let values = values.split_whitespace().skip(1);
        if let Some((_, v)) = names.zip(values).find(|(n, _)| *n == name) {
            return v.parse().unwrap_or(0);
        }
    }
    0
}

fn sockstat_tw(text: &str) -> u64 {
    let Some(line) = text.lines().find(|l| l.starts_with("TCP:")) else {
        return 0;
    };
    let mut it = line.split_whitespace();
    while let Some(w) = it.next() {
        if w == "tw" {
            return it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_tables() {
        let netstat = "TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPBacklogDrop\n\
                       TcpExt: 0 17 19 3\n\
                       IpExt: InNoRoutes\nIpExt: 5\n";
        assert_eq!(proc_table_value(netstat, "TcpExt", "ListenOverflows"), 17);
        assert_eq!(proc_table_value(netstat, "TcpExt", "TCPBacklogDrop"), 3);
        assert_eq!(proc_table_value(netstat, "IpExt", "InNoRoutes"), 5);
        assert_eq!(proc_table_value(netstat, "TcpExt", "Missing"), 0);
        let sockstat = "sockets: used 200\nTCP: inuse 5 orphan 0 tw 42 alloc 9 mem 1\n";
        assert_eq!(sockstat_tw(sockstat), 42);
        let before = KernelCounters {
            listen_overflows: 10,
            time_wait: 3,
            ..Default::default()
        };
        let after = KernelCounters {
            listen_overflows: 15,
            time_wait: 1,
            ..Default::default()
        };
        let d = before.delta(&after);
        assert_eq!(
            (d.listen_overflows, d.time_wait_before, d.time_wait_after),
            (5, 3, 1)
        );
    }

    #[test]
    fn reads_this_machine() {
        // Every Linux machine has these files; the point is that reading them works.
        let k = KernelCounters::read();
        let again = KernelCounters::read();
        assert!(again.retrans_segs >= k.retrans_segs);
    }
}
