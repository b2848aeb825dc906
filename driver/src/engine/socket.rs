//! Opening a driver socket: a nonblocking connect, from a chosen local address when asked
//! (`--source`), so one machine can hold more connections to one server than one source
//! address has ephemeral ports (about 28,000 with the default ip_local_port_range).

use std::io;
use std::net::{IpAddr, SocketAddr};

use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

/// Starts a nonblocking connect to `addr`, bound to `source` (port chosen at connect time, with
/// IP_BIND_ADDRESS_NO_PORT, so the port is unique per destination, not per source) when given.
pub(crate) fn connect(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(src) = source else {
        return TcpStream::connect(addr);
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    if src.is_ipv4() {
        bind_address_no_port(&socket);
    }
    socket.bind(&SocketAddr::new(src, 0).into())?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// Sets IP_BIND_ADDRESS_NO_PORT (socket2 does not expose it). Failing to set it costs
/// ports, not correctness, so a failure is ignored.
fn bind_address_no_port(socket: &Socket) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt(2) on a socket this function's caller owns, reading one live c_int
    // whose size is passed with it; no memory is retained by the kernel.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            std::ptr::from_ref(&one).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Parses `--source`: addresses and inclusive IPv4 ranges, comma-separated
/// (`127.0.0.2-127.0.0.50,127.0.1.1`).
pub fn parse_sources(s: &str) -> Result<Vec<IpAddr>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = match (
                    a.trim().parse::<std::net::Ipv4Addr>(),
                    b.trim().parse::<std::net::Ipv4Addr>(),
                ) {
                    (Ok(a), Ok(b)) if u32::from(a) <= u32::from(b) => (u32::from(a), u32::from(b)),
                    _ => return Err(format!("`{part}` is not an IPv4 range (low-high)")),
                };
                if b - a >= 65_536 {
                    return Err(format!("`{part}` spans more than 65,536 addresses"));
                }
                out.extend((a..=b).map(|v| IpAddr::V4(v.into())));
            }
            None => out.push(
                part.parse::<IpAddr>()
                    .map_err(|_| format!("`{part}` is not an IP address"))?,
            ),
        }
    }
    if out.is_empty() {
        return Err("expected addresses, e.g. 127.0.0.2-127.0.0.50".to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_bind() {
        let v = parse_sources("127.0.0.2-127.0.0.4, 127.0.1.1").unwrap();
        assert_eq!(v.len(), 4);
        assert!(parse_sources("127.0.0.9-127.0.0.2").is_err());
        assert!(parse_sources("x").is_err());
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = connect(l.local_addr().unwrap(), Some("127.0.0.3".parse().unwrap())).unwrap();
        let (peer, from) = l.accept().unwrap();
        drop(peer);
        assert_eq!(from.ip().to_string(), "127.0.0.3");
        drop(s);
    }
}
