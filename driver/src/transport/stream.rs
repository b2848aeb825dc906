//! One client TLS session over a nonblocking socket, driven from the connection's mio loop.
//!
//! The contract is the socket's, so the connection above needs no TLS case:
//! - `read` fills the caller's buffer with decrypted bytes, pulling records off the socket until
//!   the buffer is full or a read from the socket comes back short (or WouldBlock, or closes):
//!   a short read still means the socket is drained, which the edge-triggered loop relies on to
//!   skip a read. The socket is read in large reads into a per-thread scratch buffer and fed to
//!   rustls from there (rustls itself reads 4 KiB at a time, which would cost a 64 KiB body 16
//!   system calls and every small reply an extra one that says EAGAIN); ciphertext the caller
//!   had no room for waits in a spill buffer that exists only while it holds something;
//! - `write` takes new bytes only once the records of earlier writes are on the socket (else
//!   WouldBlock, and WRITABLE says when to go on), and at most [`MAX_WRITE_CHUNK`] at a time,
//!   so encrypted bytes held per connection stay bounded;
//! - `flush` pushes held records out and says WouldBlock while some remain.
//!
//! The handshake is driven by [`TlsStream::handshake`] until done; records the session must
//! send by itself later (alerts, key updates) go out with the next read or write.

use std::io::{self, Read as _, Write};
use std::time::Instant;

use mio::net::TcpStream;
use rustls::ClientConnection;

use super::{Failure, TlsClient};

/// The largest read from the socket: as large as the connection's own streaming reads.
const SCRATCH_BYTES: usize = 64 * 1024;

thread_local! {
    /// Where ciphertext lands from the socket before rustls takes it: one per driver thread.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; SCRATCH_BYTES]);
}

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
    /// CPU spent in handshake steps so far (the ClientHello's keys included), ns.
    cpu_ns: u64,
    /// Ciphertext read from the socket that rustls has not taken yet (the caller's buffer was
    /// full); empty, with no allocation, almost always.
    spill: Vec<u8>,
    /// The socket said EOF: rustls has been told.
    eof: bool,
    /// A TLS error met after some bytes were already handed up: said by the next read.
    failed: Option<io::Error>,
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
        // Building the ClientHello makes the key shares: part of the handshake's time and CPU.
        let started = Instant::now();
        let cpu_before = thread_cpu_ns();
        let tls = ClientConnection::new(client.config.clone(), client.server_name.clone())
            .map_err(|e| Failure::from_rustls(&e))?;
        Ok(TlsStream {
            tcp,
            tls,
            started,
            cpu_ns: thread_cpu_ns().saturating_sub(cpu_before),
            spill: Vec::new(),
            eof: false,
            failed: None,
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

    /// Hands `bytes` of ciphertext to rustls and decrypts what completes a record; returns how
    /// many it took (it takes at most 4 KiB a call).
    fn feed(&mut self, mut bytes: &[u8]) -> io::Result<usize> {
        let n = self.tls.read_tls(&mut bytes)?;
        if let Err(e) = self.tls.process_new_packets() {
            // Tell the server why (best effort).
            let _ = self.push_records();
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        Ok(n)
    }

    /// Moves decrypted bytes into `buf[*n..]`; false if the session has no more now (true at
    /// the end of the stream too: there is nothing to wait for).
    fn take_plaintext(&mut self, buf: &mut [u8], n: &mut usize) -> io::Result<Taken> {
        while *n < buf.len() {
            match self.tls.reader().read(&mut buf[*n..]) {
                // close_notify: the end of the stream.
                Ok(0) => return Ok(Taken::End),
                Ok(k) => *n += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Taken::More),
                // The socket closed without close_notify: to the connection, a close.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Taken::End),
                Err(e) => return Err(e),
            }
        }
        Ok(Taken::Full)
    }

    /// Feeds ciphertext from `bytes` while the caller's buffer has room; what is left (the
    /// buffer filled first) goes to the spill buffer.
    fn feed_all(&mut self, mut bytes: &[u8], buf: &mut [u8], n: &mut usize) -> io::Result<()> {
        while !bytes.is_empty() {
            if *n == buf.len() {
                self.spill.extend_from_slice(bytes);
                return Ok(());
            }
            let took = self.feed(bytes)?;
            bytes = &bytes[took..];
            if let Taken::End = self.take_plaintext(buf, n)? {
                return Ok(());
            }
        }
        Ok(())
    }

    fn read_into(&mut self, buf: &mut [u8], n: &mut usize) -> io::Result<()> {
        loop {
            if self.take_plaintext(buf, n)? != Taken::More {
                return Ok(());
            }
            if !self.spill.is_empty() {
                // Its allocation goes when it is drained (a new one if the buffer fills again).
                let spill = std::mem::take(&mut self.spill);
                self.feed_all(&spill, buf, n)?;
                continue;
            }
            if self.eof {
                return Ok(());
            }
            let got = SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let space = scratch.len();
                let k = loop {
                    match self.tcp.read(&mut scratch[..]) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        other => break other?,
                    }
                };
                if k == 0 {
                    self.eof = true;
                    // Tells rustls: the socket is closed.
                    self.tls.read_tls(&mut &[][..])?;
                    self.tls
                        .process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    return Ok(Read::Closed);
                }
                self.feed_all(&scratch[..k], buf, n)?;
                Ok::<_, io::Error>(if k < space { Read::Drained } else { Read::More })
            })?;
            match got {
                Read::More => {}
                Read::Closed => continue,
                // A short read: the socket has no more now (nothing decrypted yet: wait for it).
                Read::Drained => {
                    if self.take_plaintext(buf, n)? == Taken::More && *n == 0 {
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                    return Ok(());
                }
            }
        }
    }
}

/// What [`TlsStream::take_plaintext`] left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taken {
    /// The caller's buffer is full.
    Full,
    /// The session has no more decrypted bytes now.
    More,
    /// The stream has ended.
    End,
}

/// How a read from the socket went.
enum Read {
    /// It filled the scratch buffer: there may be more.
    More,
    /// It came back short: the socket is drained.
    Drained,
    /// The socket is closed.
    Closed,
}

/// This thread's CPU time, ns (the handshake's own cost, without the waits between its steps).
fn thread_cpu_ns() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(0, |t| {
        (t.tv_sec() as u64).saturating_mul(1_000_000_000) + t.tv_nsec() as u64
    })
}

impl std::io::Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let mut n = 0;
        match self.read_into(buf, &mut n) {
            Ok(()) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && n == 0 => Err(e),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
            Err(e) if n == 0 => Err(e),
            // The replies decrypted before the error are the caller's; the error comes next.
            Err(e) => {
                self.failed = Some(e);
                Ok(n)
            }
        }
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
