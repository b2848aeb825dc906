//! Listening sockets, set up the way a high-connection-rate server needs them.
//!
//! SO_REUSEADDR so a restarted server can bind while old connections sit in TIME_WAIT;
//! SO_REUSEPORT so several acceptors each get their own accept queue on one port and the kernel
//! spreads new connections across them; a large backlog so a burst of connects is queued rather
//! than dropped; optional buffer sizes, set before listen() so window scaling is negotiated for
//! them. Accepted sockets inherit the buffer sizes.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

use nines_common::usage::{check_range, UsageError};

use crate::config::{DEFAULT_BACKLOG, MAX_BUFFER_BYTES};

/// Largest listen backlog accepted (the kernel caps it at net.core.somaxconn anyway).
pub const MAX_BACKLOG: i32 = 1 << 20;

/// Socket options for listeners.
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// listen() backlog; capped by the kernel at net.core.somaxconn.
    pub backlog: i32,
    /// SO_RCVBUF in bytes, if set.
    pub recv_buffer_bytes: Option<usize>,
    /// SO_SNDBUF in bytes, if set.
    pub send_buffer_bytes: Option<usize>,
    /// Share the port with other processes on purpose (SO_REUSEPORT across processes). Off by
    /// default: a server refuses to start where another process already listens, instead of
    /// silently taking part of its traffic.
    pub reuse_port: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: DEFAULT_BACKLOG,
            recv_buffer_bytes: None,
            send_buffer_bytes: None,
            reuse_port: false,
        }
    }
}

impl ListenOptions {
    /// The bounds a user can trip, one [`UsageError`] each.
    pub fn validate(&self) -> Vec<UsageError> {
        let mut errors = Vec::new();
        let why = "the kernel caps it at net.core.somaxconn";
        check_range(
            &mut errors,
            "--backlog",
            self.backlog,
            (1, MAX_BACKLOG),
            why,
        );
        for (flag, v) in [
            ("--rcvbuf", self.recv_buffer_bytes),
            ("--sndbuf", self.send_buffer_bytes),
        ] {
            if let Some(n) = v {
                check_range(&mut errors, flag, n, (1, MAX_BUFFER_BYTES), "");
            }
        }
        errors
    }
}

/// Binds `count` SO_REUSEPORT listeners on `addr`, nonblocking.
///
/// With port 0 the first listener picks a free port and the others join it, so all `count`
/// listeners share one port whatever `addr` said. Unless `opts.reuse_port`, a named port that
/// another process already listens on is refused (`AddrInUse`, with what to do) rather than
/// shared: SO_REUSEPORT would otherwise let this server quietly take part of the other's traffic.
pub fn bind(addr: SocketAddr, count: usize, opts: &ListenOptions) -> io::Result<Vec<TcpListener>> {
    if addr.port() != 0 && !opts.reuse_port {
        probe_exclusive(addr)?;
    }
    let mut out = Vec::with_capacity(count.max(1));
    let mut addr = addr;
    for _ in 0..count.max(1) {
        let l = bind_one(addr, opts)?;
        addr = l.local_addr()?;
        out.push(l);
    }
    Ok(out)
}

/// Binds and drops a socket *without* SO_REUSEPORT: that fails with EADDRINUSE exactly when
/// another socket listens on `addr` (SO_REUSEADDR still lets a restarted server bind past its
/// old connections in TIME_WAIT).
fn probe_exclusive(addr: SocketAddr) -> io::Result<()> {
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    probe.set_reuse_address(true)?;
    match probe.bind(&addr.into()) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "another process is already listening on {addr} (pass --reuse-port to share the port on purpose, or choose another --port)"
            ),
        )),
        other => other,
    }
}

fn bind_one(addr: SocketAddr, opts: &ListenOptions) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if let Some(n) = opts.recv_buffer_bytes {
        socket.set_recv_buffer_size(n)?;
    }
    if let Some(n) = opts.send_buffer_bytes {
        socket.set_send_buffer_size(n)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(opts.backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// The kernel's cap on listen backlogs, if it can be read.
pub fn somaxconn() -> Option<i64> {
    read_proc_number("/proc/sys/net/core/somaxconn")
}

/// A warning to show when `backlog` is above what the kernel will grant, else `None`.
pub fn backlog_warning(backlog: i32) -> Option<String> {
    let cap = somaxconn()?;
    (i64::from(backlog) > cap).then(|| {
        format!(
            "listen backlog {backlog} is silently capped by the kernel at net.core.somaxconn={cap}; \
             raise it with `sysctl -w net.core.somaxconn={backlog}` (see sysctl.conf)"
        )
    })
}

/// Reads a single integer from a /proc or /sys file.
pub fn read_proc_number(path: &str) -> Option<i64> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_used_port_is_refused_unless_sharing_is_asked_for() {
        let first = bind("127.0.0.1:0".parse().unwrap(), 1, &ListenOptions::default()).unwrap();
        let addr = first[0].local_addr().unwrap();
        let e = bind(addr, 1, &ListenOptions::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert!(e.to_string().contains("--reuse-port"), "{e}");
        let shared = ListenOptions {
            reuse_port: true,
            ..ListenOptions::default()
        };
        assert_eq!(bind(addr, 2, &shared).unwrap().len(), 2);
        // A plain (non-SO_REUSEPORT) listener elsewhere is refused the same way.
        let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let e = bind(plain.local_addr().unwrap(), 1, &ListenOptions::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn several_listeners_share_one_port() {
        let ls = bind("127.0.0.1:0".parse().unwrap(), 3, &ListenOptions::default()).unwrap();
        let ports: Vec<u16> = ls.iter().map(|l| l.local_addr().unwrap().port()).collect();
        assert_eq!(ports.len(), 3);
        assert!(ports[0] != 0 && ports.iter().all(|&p| p == ports[0]));
    }

    #[test]
    fn backlog_warning_mentions_somaxconn_when_over() {
        if let Some(cap) = somaxconn() {
            assert!(backlog_warning(cap as i32).is_none());
            let w = backlog_warning((cap + 1) as i32).unwrap();
            assert!(w.contains("somaxconn"));
        }
    }
}
