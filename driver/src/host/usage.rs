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

    /// Read of a process no other test touches: a child holding exactly three sockets (this
    /// test process's own sockets come and go with the tests running beside this one).
    #[test]
    fn a_process_holds_memory_descriptors_threads_and_its_sockets() {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                "import socket,time; s=[socket.socket() for _ in range(3)]; print('ready', flush=True); time.sleep(30)",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        let held = usage(&[child.id()], true);
        let uncounted = usage(&[child.id()], false);
        let _ = child.kill();
        let _ = child.wait();
        let held = held.expect("the child is alive");
        assert!(held.rss_bytes > 0 && held.threads >= 1, "{held:?}");
        assert_eq!(held.sockets, 3, "{held:?}");
        assert!(held.fds >= 3, "{held:?}");
        assert_eq!(uncounted.unwrap().sockets, 0, "not counted");
        assert_eq!(usage(&[u32::MAX], true), None, "no such process");
    }
}
