//! Memory and sockets: a process's resident size and open descriptors, and the kernel's TCP
//! socket count and buffer pages (/proc/net/sockstat).

use serde::{Deserialize, Serialize};

/// Kernel socket memory (/proc/net/sockstat).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct SockStat {
    /// TCP sockets in use.
    pub tcp_inuse: u64,
    /// Pages of TCP buffer memory.
    pub tcp_mem_pages: u64,
}

/// VmRSS of /proc/PID/status (`self` for this process), KiB; 0 if unreadable.
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

/// Descriptors open in process `pid` (`self` for this one); 0 if unreadable.
pub fn open_fds(pid: &str) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// The TCP line of /proc/net/sockstat.
pub fn sockstat() -> SockStat {
    parse_sockstat(&std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default())
}

fn parse_sockstat(text: &str) -> SockStat {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_readings() {
        assert!(rss_kib("self") > 0);
        assert!(open_fds("self") >= 3, "stdio at least");
        let s = parse_sockstat("sockets: used 9\nTCP: inuse 5 orphan 0 tw 42 alloc 9 mem 7\n");
        assert_eq!((s.tcp_inuse, s.tcp_mem_pages), (5, 7));
        assert_eq!(parse_sockstat(""), SockStat::default());
    }
}
