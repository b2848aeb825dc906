//! A nines-server's counters, read with one Stats request on a connection of its own: how
//! `nines profile` reads the server's phase clocks and how a run reads the CPU of a nines-server
//! /proc cannot see.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nines_protocol::{decode, encode, Flags, Header, Op};

use crate::transport::TlsClient;

/// A blocking byte stream: a socket, or TLS over one.
trait ReadWrite: Read + Write {}

impl<T: Read + Write> ReadWrite for T {}

/// Why the counters could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the counters of {addr}: {why} (this needs nines-server speaking the nines protocol)")]
pub struct StatsError {
    /// Server address.
    pub addr: SocketAddr,
    /// What went wrong.
    pub why: String,
}

/// The counters of the nines-server at `addr` (over TLS with `tls`), as name/value pairs.
pub fn fetch(
    addr: SocketAddr,
    tls: Option<&TlsClient>,
    timeout: Duration,
) -> Result<Vec<(String, u64)>, StatsError> {
    let fail = |why: String| StatsError { addr, why };
    let mut s: Box<dyn ReadWrite> = match tls {
        Some(client) => Box::new(
            crate::transport::probe::connect(&client.without_resumption(), addr, timeout)
                .map_err(|f| fail(f.to_string()))?,
        ),
        None => {
            let s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| fail(e.to_string()))?;
            s.set_read_timeout(Some(timeout))
                .map_err(|e| fail(e.to_string()))?;
            Box::new(s)
        }
    };
    let mut req = Vec::new();
    encode(&Header::request(Op::Stats, 0), &[], &mut req);
    s.write_all(&req).map_err(|e| fail(e.to_string()))?;
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match decode(&buf, 1 << 20) {
            Ok(Some((f, _)))
                if f.header.op == Op::Stats && f.header.flags.contains(Flags::RESPONSE) =>
            {
                return nines_protocol::stats::parse(f.payload).map_err(|e| fail(e.to_string()));
            }
            Ok(Some(_)) => {
                return Err(fail(
                    "the reply was not a Stats reply (is it an echo server?)".into(),
                ))
            }
            Ok(None) => {}
            Err(e) => return Err(fail(format!("reply is not a nines frame ({e})"))),
        }
        if Instant::now() >= deadline {
            return Err(fail("no reply in time".into()));
        }
        match s.read(&mut chunk) {
            Ok(0) => return Err(fail("connection closed before the reply".into())),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(fail(e.to_string())),
        }
    }
}
