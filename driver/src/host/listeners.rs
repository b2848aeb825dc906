//! Port -> process: which processes listen on a port, found through /proc/net/tcp{,6} (the
//! listening socket's inode) and /proc/PID/fd (who holds it). How a storm finds the server's
//! processes to weigh their memory, and how the server's CPU is found on this machine.

use std::net::SocketAddr;

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
pub fn listening_pids(addr: SocketAddr) -> Vec<u32> {
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
    fn a_listener_is_found_by_its_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert_eq!(listening_pids(addr), [std::process::id()]);
        assert!(served_here(addr));
        assert!(server_pids(addr).is_empty(), "this process is excluded");
    }
}
