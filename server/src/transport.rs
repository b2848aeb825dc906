//! The bytes under a connection: plain TCP, or TLS over it, behind one `Read + Write` (and
//! mio `Source`), so no protocol handler and no part of the connection's state machine knows
//! which it has.
//!
//! The connection (`conn`) drives its stream edge-triggered and relies on three things a plain
//! socket gives it, which the TLS arm keeps:
//! - a read that returns less than the buffer means the socket is drained: TLS records are
//!   pulled and decrypted until the caller's buffer is full or the socket says WouldBlock or
//!   EOF, and only then does the read return;
//! - a write that is refused (WouldBlock) will be followed by a WRITABLE edge: new plaintext is
//!   taken only once the records of earlier writes have left, and only a bounded chunk of it,
//!   so the ciphertext a connection holds stays bounded and is counted ([`Stream::held`]) in
//!   the buffered-reply budget like unsent plaintext;
//! - `flush` says WouldBlock while records are still waiting, so a connection is drained only
//!   when its bytes are on the wire.
//!
//! And it says what a plain socket never has to: that bytes of a record have arrived and the
//! record has not ended ([`Stream::pending_input`]), so a client trickling one record is held to
//! the read timeout like one trickling a request.
//!
//! Handshake messages produced while reading (the server's flights, session tickets, alerts)
//! go out at once when the socket takes them; what does not fit waits for WRITABLE like a reply.
//!
//! The plain arm is one branch on the enum's tag per call, monomorphised over the accepted
//! socket (`sock::Sock`): it pays nothing else for TLS being possible.

use std::io::{self, Read, Write};

use rustls::{HandshakeKind, ServerConnection};

/// Most plaintext one write takes into TLS: two full records. Large enough that a bulk reply
/// costs a syscall per 32 KiB, small enough that the ciphertext held per connection (this, plus
/// record overhead) is a small part of its high-water mark.
pub(crate) const TLS_WRITE_CHUNK: usize = 32 * 1024;
/// Ciphertext buffers larger than this are released when empty (as conn.rs does with its own).
const SHRINK_ABOVE_BYTES: usize = 64 * 1024;

/// What a connection needs from its stream beyond bytes in and out. A plain socket has nothing
/// to say, which the defaults say.
pub(crate) trait Stream: Read + Write {
    /// Bytes written to the stream that the socket has not taken yet (TLS records), counted in
    /// the buffered-reply budget beside the connection's own unsent replies.
    fn held(&self) -> usize {
        0
    }

    /// Whether the connection is still being set up (a TLS handshake): the read timeout runs
    /// from the accept, as for a request begun and not finished.
    fn opening(&self) -> bool {
        false
    }

    /// How the setup ended, once, after the read that ended it.
    fn setup(&mut self) -> Option<Setup> {
        None
    }

    /// Whether bytes have been read that are not plaintext yet: part of a TLS record. The
    /// connection holds it to the read timeout as a request in part, or a client trickling one
    /// record would never start that timeout (its plaintext buffer stays empty).
    fn pending_input(&self) -> bool {
        false
    }

    /// The connection is about to close with everything sent: end the stream's own session
    /// (TLS: close_notify), best effort, as the socket just took all it was given.
    fn finish(&mut self) {}
}

/// How a TLS handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setup {
    /// A full handshake: key exchange and certificate.
    Full,
    /// A resumed session (TLS 1.2 session id or ticket, TLS 1.3 PSK).
    Resumed,
    /// Refused: not TLS, no protocol or version in common, a bad message or alert.
    Failed,
}

/// One connection's byte stream.
#[derive(Debug)]
pub(crate) enum Transport<S> {
    /// The socket itself.
    Plain(S),
    /// TLS over the socket (boxed: rustls' state is a few hundred bytes the plain arm should not
    /// carry in every slab entry).
    Tls(Box<Tls<S>>),
}

impl<S> Transport<S> {
    /// Wraps an accepted socket: TLS if the server has a TLS configuration.
    pub fn new(
        sock: S,
        tls: Option<&std::sync::Arc<rustls::ServerConfig>>,
    ) -> Result<Self, rustls::Error> {
        Ok(match tls {
            None => Transport::Plain(sock),
            Some(config) => Transport::Tls(Box::new(Tls {
                sock,
                tls: ServerConnection::new(config.clone())?,
                out: Vec::new(),
                out_pos: 0,
                eof: false,
                handshaking: true,
                setup: None,
                edge: RecordEdge::default(),
            })),
        })
    }

    /// The socket under it.
    pub fn socket(&self) -> &S {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &t.sock,
        }
    }

    fn socket_mut(&mut self) -> &mut S {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &mut t.sock,
        }
    }
}

/// TLS (rustls) over a non-blocking socket.
#[derive(Debug)]
pub(crate) struct Tls<S> {
    sock: S,
    tls: ServerConnection,
    /// Records rustls has produced and the socket has not taken from `out_pos` on. Kept here
    /// rather than in rustls so the bytes held are known exactly, for the budget.
    out: Vec<u8>,
    out_pos: usize,
    /// The socket said EOF.
    eof: bool,
    handshaking: bool,
    setup: Option<Setup>,
    /// Where the bytes read so far end in the record framing.
    edge: RecordEdge,
}

/// Where the peer's bytes stand in TLS record framing: each record is a 5-byte header, whose
/// last two bytes are the length of the body that follows. Only the edges are followed (the
/// records are rustls'), to know whether a record has begun to arrive and not ended: rustls
/// keeps such bytes to itself and says nothing of them.
#[derive(Debug, Default)]
struct RecordEdge {
    /// Bytes of the current record's header seen (0 between records).
    header_seen: u8,
    /// The high byte of the current record's length, once seen.
    len_high: u8,
    /// Bytes of the current record's body still to come.
    body_left: usize,
}

/// Bytes of a TLS record header: type, version (2), length (2).
const RECORD_HEADER_BYTES: u8 = 5;

impl RecordEdge {
    /// Follows `bytes`, the next ones of the stream.
    fn feed(&mut self, mut bytes: &[u8]) {
        while let Some((&b, rest)) = bytes.split_first() {
            if self.body_left > 0 {
                let skip = self.body_left.min(bytes.len());
                self.body_left -= skip;
                bytes = &bytes[skip..];
                continue;
            }
            match self.header_seen {
                3 => self.len_high = b,
                4 => self.body_left = usize::from(u16::from_be_bytes([self.len_high, b])),
                _ => {}
            }
            self.header_seen = (self.header_seen + 1) % RECORD_HEADER_BYTES;
            bytes = rest;
        }
    }

    /// Whether a record has begun and not ended.
    fn inside(&self) -> bool {
        self.header_seen > 0 || self.body_left > 0
    }
}

/// A socket whose reads are followed by a [`RecordEdge`] on their way to rustls.
struct Tap<'a, S> {
    sock: &'a mut S,
    edge: &'a mut RecordEdge,
}

impl<S: Read> Read for Tap<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        self.edge.feed(&buf[..n]);
        Ok(n)
    }
}

impl<S: Read + Write> Tls<S> {
    /// Moves what rustls has to send into `out` and writes `out` to the socket: Ok when all of
    /// it left, WouldBlock when some waits for WRITABLE.
    fn push(&mut self) -> io::Result<()> {
        loop {
            while self.tls.wants_write() {
                // Writing into a Vec cannot fail.
                self.tls.write_tls(&mut self.out)?;
            }
            if self.out_pos == self.out.len() {
                self.out.clear();
                self.out_pos = 0;
                if self.out.capacity() > SHRINK_ABOVE_BYTES {
                    self.out = Vec::new();
                }
                return Ok(());
            }
            match self.sock.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Pushes what the last records asked for (handshake flights, tickets, alerts); what the
    /// socket does not take now waits for WRITABLE.
    fn answer(&mut self) -> io::Result<()> {
        match self.push() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }

    /// A record rustls refused: the alert it queued goes out if the socket takes it, and a
    /// handshake that ends this way is a failed setup.
    fn refused(&mut self, e: rustls::Error) -> io::Error {
        let _ = self.push();
        if self.handshaking {
            self.handshaking = false;
            self.setup = Some(Setup::Failed);
        }
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    fn note_handshake(&mut self) {
        if self.handshaking && !self.tls.is_handshaking() {
            self.handshaking = false;
            self.setup = Some(match self.tls.handshake_kind() {
                Some(HandshakeKind::Resumed) => Setup::Resumed,
                _ => Setup::Full,
            });
        }
    }
}

impl<S: Read + Write> Read for Tls<S> {
    /// Fills `buf` with plaintext, pulling records until it is full or the socket is drained.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        loop {
            match self.tls.reader().read(&mut buf[filled..]) {
                Ok(n) if n > 0 => {
                    filled += n;
                    if filled == buf.len() {
                        return Ok(filled);
                    }
                    continue;
                }
                // The peer's close_notify: answer it, then EOF.
                Ok(_) => {
                    self.tls.send_close_notify();
                    self.answer()?;
                    return Ok(filled);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // A TCP FIN without close_notify, as many HTTP clients close: EOF all the same
                // (the protocols above frame their own messages, so truncation is visible).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(filled),
                Err(e) => return Err(e),
            }
            if self.eof {
                return Ok(filled);
            }
            let mut tap = Tap {
                sock: &mut self.sock,
                edge: &mut self.edge,
            };
            match self.tls.read_tls(&mut tap) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && filled > 0 => return Ok(filled),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = self.tls.process_new_packets() {
                return Err(self.refused(e));
            }
            self.note_handshake();
            self.answer()?;
        }
    }
}

impl<S: Read + Write> Write for Tls<S> {
    /// Takes up to [`TLS_WRITE_CHUNK`] of plaintext once earlier records have left.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push()?;
        let n = self
            .tls
            .writer()
            .write(&buf[..buf.len().min(TLS_WRITE_CHUNK)])?;
        self.answer()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.push()
    }
}

impl<S: Read + Write> Read for Transport<S> {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => t.read(buf),
        }
    }
}

impl<S: Read + Write> Write for Transport<S> {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(t) => t.write(buf),
        }
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(t) => t.flush(),
        }
    }
}

impl<S: Read + Write> Stream for Transport<S> {
    #[inline]
    fn held(&self) -> usize {
        match self {
            Transport::Plain(_) => 0,
            Transport::Tls(t) => t.out.len() - t.out_pos,
        }
    }

    #[inline]
    fn opening(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.handshaking,
        }
    }

    #[inline]
    fn setup(&mut self) -> Option<Setup> {
        match self {
            Transport::Plain(_) => None,
            Transport::Tls(t) => t.setup.take(),
        }
    }

    #[inline]
    fn pending_input(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.edge.inside(),
        }
    }

    fn finish(&mut self) {
        if let Transport::Tls(t) = self {
            t.tls.send_close_notify();
            // What the socket does not take now is dropped with it: the close comes next.
            let _ = t.push();
        }
    }
}

/// Registration is the socket's: TLS adds no descriptor of its own.
impl<S: mio::event::Source> mio::event::Source for Transport<S> {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.socket_mut().register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.socket_mut().reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        self.socket_mut().deregister(registry)
    }
}

impl<S: std::os::fd::AsFd> std::os::fd::AsFd for Transport<S> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket().as_fd()
    }
}

#[cfg(test)]
#[path = "transport_tests.rs"]
mod tests;
