//! A nines-server's counters, read with a Stats request on a connection of its own: how
//! `nines profile` reads the server's phase clocks, and how a run reads the CPU of a
//! nines-server /proc cannot see (a connection for each reading) and, every second, what it
//! holds (one connection kept open for the run).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nines_protocol::{decode, encode, Flags, Header, Op};

use crate::transport::TlsClient;

/// Why the counters could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the counters of {addr}: {why} (this needs nines-server speaking the nines protocol)")]
pub struct StatsError {
    /// Server address.
    pub addr: SocketAddr,
    /// What went wrong.
    pub why: String,
}

/// The counters of the nines-server at `addr` (over TLS with `tls`), as name/value pairs, on
/// a connection opened for them and closed after.
pub fn fetch(
    addr: SocketAddr,
    tls: Option<&TlsClient>,
    timeout: Duration,
) -> Result<Vec<(String, u64)>, StatsError> {
    StatsConn::open(addr, tls, timeout)?.fetch(timeout)
}

/// A connection to a nines-server kept open for Stats requests, one at a time: how a run reads
/// a remote server every second without a new connection each time.
pub(crate) struct StatsConn {
    addr: SocketAddr,
    stream: Stream,
    /// Bytes read past the last reply.
    buf: Vec<u8>,
    next_id: u64,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }

    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.as_mut(),
        }
    }
}

/// A blocking byte stream: a socket, or TLS over one.
trait ReadWrite: Read + Write {}

impl<T: Read + Write> ReadWrite for T {}

impl StatsConn {
    /// Connects (and shakes hands, over TLS) within `timeout`.
    pub(crate) fn open(
        addr: SocketAddr,
        tls: Option<&TlsClient>,
        timeout: Duration,
    ) -> Result<StatsConn, StatsError> {
        let fail = |why: String| StatsError { addr, why };
        let stream = match tls {
            Some(client) => Stream::Tls(Box::new(
                crate::transport::probe::connect(&client.without_resumption(), addr, timeout)
                    .map_err(|f| fail(f.to_string()))?,
            )),
            None => Stream::Plain(
                TcpStream::connect_timeout(&addr, timeout).map_err(|e| fail(e.to_string()))?,
            ),
        };
        Ok(StatsConn {
            addr,
            stream,
            buf: Vec::new(),
            next_id: 0,
        })
    }

    /// Asks for the counters and reads the reply, within `timeout`. After an error the
    /// connection is in an unknown state: drop it.
    pub(crate) fn fetch(&mut self, timeout: Duration) -> Result<Vec<(String, u64)>, StatsError> {
        let addr = self.addr;
        let fail = |why: String| StatsError { addr, why };
        if timeout.is_zero() {
            return Err(fail("no time left to ask".into()));
        }
        let deadline = Instant::now() + timeout;
        let id = self.next_id;
        self.next_id += 1;
        let mut req = Vec::new();
        encode(&Header::request(Op::Stats, id), &[], &mut req);
        let tcp = self.stream.tcp();
        tcp.set_write_timeout(Some(timeout))
            .map_err(|e| fail(e.to_string()))?;
        self.stream
            .io()
            .write_all(&req)
            .and_then(|()| self.stream.io().flush())
            .map_err(|e| fail(e.to_string()))?;
        let mut chunk = [0u8; 8192];
        loop {
            match decode(&self.buf, 1 << 20) {
                Ok(Some((f, len)))
                    if f.header.op == Op::Stats
                        && f.header.flags.contains(Flags::RESPONSE)
                        && f.header.request_id == id =>
                {
                    let pairs =
                        nines_protocol::stats::parse(f.payload).map_err(|e| fail(e.to_string()));
                    self.buf.drain(..len);
                    return pairs;
                }
                Ok(Some(_)) => {
                    return Err(fail(
                        "the reply was not a Stats reply (is it an echo server?)".into(),
                    ))
                }
                Ok(None) => {}
                Err(e) => return Err(fail(format!("reply is not a nines frame ({e})"))),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(fail("no reply in time".into()));
            }
            self.stream
                .tcp()
                .set_read_timeout(Some(left))
                .map_err(|e| fail(e.to_string()))?;
            match self.stream.io().read(&mut chunk) {
                Ok(0) => return Err(fail("connection closed before the reply".into())),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(fail("no reply in time".into()))
                }
                Err(e) => return Err(fail(e.to_string())),
            }
        }
    }
}
