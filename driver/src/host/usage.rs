//! What a set of processes holds at one instant: resident memory, open descriptors, threads
//! and sockets, summed over the processes (a server of several processes is one server). Read
//! once a second of a run to see whether the target grows under load.

use serde::{Deserialize, Serialize};

use super::memory::{open_fds, rss_kib};

/// Resources held at one instant.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Usage {
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// Open descriptors.
    pub fds: u64,
    /// Threads.
    pub threads: u64,
    /// Descriptors that are sockets.
    pub sockets: u64,
}

/// What `pids` hold now; none when none of them can be read (they exited). Sockets are
/// counted only when asked (`sockets`): that reads every descriptor's link, which for a
/// process of many connections is the one costly reading.
pub fn usage(pids: &[u32], count_sockets: bool) -> Option<Usage> {
    let mut total = Usage::default();
    let mut read = false;
    for pid in pids {
        let p = pid.to_string();
        let Ok(status) = std::fs::read_to_string(format!("/proc/{p}/status")) else {
            continue;
        };
        read = true;
        total.rss_bytes += rss_kib(&p) * 1024;
        total.fds += open_fds(&p);
        total.threads += status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if count_sockets {
            total.sockets += sockets(&p);
        }
    }
    read.then_some(total)
}

/// Descriptors of `pid` that are sockets.
fn sockets(pid: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
        })
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_holds_memory_descriptors_threads_and_its_sockets() {
        let me = std::process::id();
        let before = usage(&[me], true).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let after = usage(&[me], true).unwrap();
        assert!(before.rss_bytes > 0 && before.threads >= 1, "{before:?}");
        assert!(
            after.sockets > before.sockets && after.fds > before.fds,
            "{before:?} {after:?}"
        );
        drop(listener);
        assert_eq!(usage(&[u32::MAX], true), None, "no such process");
        assert_eq!(usage(&[me], false).unwrap().sockets, 0, "not counted");
    }
}
