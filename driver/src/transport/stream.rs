//! One client TLS session over a nonblocking socket, driven from the connection's mio loop.
//!
//! The contract is the socket's, so the connection above needs no TLS case:
//! - `read` fills the caller's buffer with decrypted bytes, pulling records off the socket until
//!   the buffer is full or the socket says WouldBlock (or closes): a short read still means the
//!   socket is drained, which the edge-triggered loop relies on to skip a read;
//! - `write` takes new bytes only once the records of earlier writes are on the socket (else
//!   WouldBlock, and WRITABLE says when to go on), and at most [`MAX_WRITE_CHUNK`] at a time,
//!   so encrypted bytes held per connection stay bounded;
//! - `flush` pushes held records out and says WouldBlock while some remain.
//!
//! The handshake is driven by [`TlsStream::handshake`] until done; records the session must
//! send by itself later (alerts, key updates) go out with the next read or write.

use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;
use rustls::ClientConnection;

use super::{Failure, TlsClient};

/// The most plaintext taken in one `write`: a few full records, so a large request still goes
/// out in large socket writes while what is held encrypted stays small.
const MAX_WRITE_CHUNK: usize = 64 * 1024;

/// A handshake that finished: how long it took and whether the session was resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// From the TCP connection being up to the handshake being done, ns.
    pub ns: u64,
    /// A session from an earlier connection was resumed (no certificate exchanged).
    pub resumed: bool,
    /// Thread CPU time the handshake took on this side, ns.
    pub cpu_ns: u64,
    /// The version the server chose.
    pub version: Option<rustls::ProtocolVersion>,
    /// The cipher suite the server chose.
    pub suite: Option<rustls::CipherSuite>,
}

/// A client TLS session over `tcp`.
pub struct TlsStream {
    tcp: TcpStream,
    tls: ClientConnection,
    /// When the TCP connection came up (for the handshake's duration).
    started: Instant,
    /// CPU spent in handshake steps so far, ns.
    cpu_ns: u64,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("tcp", &self.tcp)
            .field("handshaking", &self.tls.is_handshaking())
            .finish_non_exhaustive()
    }
}

impl TlsStream {
    /// Starts a session over a connected socket; its ClientHello goes out with the first
    /// [`TlsStream::handshake`].
    pub fn new(tcp: TcpStream, client: &TlsClient) -> Result<TlsStream, Failure> {
        let tls = ClientConnection::new(client.config.clone(), client.server_name.clone())
            .map_err(|e| Failure::from_rustls(&e))?;
        Ok(TlsStream {
            tcp,
            tls,
            started: Instant::now(),
            cpu_ns: 0,
        })
    }

    /// The socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Moves the handshake on as far as the socket allows: `Ok(Some(..))` once done,
    /// `Ok(None)` while waiting for the server (or for room to write).
    pub fn handshake(&mut self) -> Result<Option<Handshake>, Failure> {
        let cpu_before = thread_cpu_ns();
        let step = self.handshake_step();
        self.cpu_ns += thread_cpu_ns().saturating_sub(cpu_before);
        match step {
            Ok(true) => Ok(Some(Handshake {
                ns: self.started.elapsed().as_nanos() as u64,
                resumed: self.tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
                cpu_ns: self.cpu_ns,
                version: self.tls.protocol_version(),
                suite: self.tls.negotiated_cipher_suite().map(|s| s.suite()),
            })),
            Ok(false) => Ok(None),
            Err(f) => Err(f),
        }
    }

    fn handshake_step(&mut self) -> Result<bool, Failure> {
        loop {
            match self.push_records() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(Failure::io(&e)),
            }
            if !self.tls.is_handshaking() {
                return Ok(true);
            }
            match self.tls.read_tls(&mut self.tcp) {
                Ok(0) => return Err(Failure::closed_mid_handshake()),
                Ok(_) => {
                    if let Err(e) = self.tls.process_new_packets() {
                        // Tell the server why (best effort), then say it here.
                        let _ = self.push_records();
                        return Err(Failure::from_rustls(&e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Failure::io(&e)),
            }
        }
    }

    /// Writes held records until none are left (or the socket is full: WouldBlock).
    fn push_records(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads records off the socket into the session; `Ok(false)` when the socket closed.
    fn pull_records(&mut self) -> io::Result<bool> {
        loop {
            match self.tls.read_tls(&mut self.tcp) {
                Ok(0) => return Ok(false),
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if let Err(e) = self.tls.process_new_packets() {
            let _ = self.push_records();
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        // Anything the session must answer by itself (a key update) goes out now if it can.
        match self.push_records() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(true),
        }
    }
}

/// This thread's CPU time, ns (the handshake's own cost, without the waits between its steps).
fn thread_cpu_ns() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(0, |t| {
        (t.tv_sec() as u64).saturating_mul(1_000_000_000) + t.tv_nsec() as u64
    })
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        let mut open = true;
        while n < buf.len() {
            match self.tls.reader().read(&mut buf[n..]) {
                // The server said close_notify: the end of the stream.
                Ok(0) => return Ok(n),
                Ok(k) => {
                    n += k;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The socket closed without close_notify: to the connection, a close.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(n),
                Err(e) => return if n > 0 { Ok(n) } else { Err(e) },
            }
            if !open {
                return Ok(n);
            }
            match self.pull_records() {
                Ok(more) => open = more,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => return Ok(n),
                Err(e) if n > 0 && e.kind() != io::ErrorKind::InvalidData => return Ok(n),
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push_records()?;
        let n = self
            .tls
            .writer()
            .write(&buf[..buf.len().min(MAX_WRITE_CHUNK)])?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match self.push_records() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            // What the socket did not take is sent by the next write or flush.
            _ => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.push_records()
    }
}
