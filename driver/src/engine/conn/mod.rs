//! One driver connection: its socket (in a state that says whether it is connecting, open or
//! closed), its read and write buffers, its requests in flight and its codec.
//!
//! The connection moves bytes and matches replies to requests; the codec alone knows the
//! protocol; what a reply means for the run (recorded, counted as an error) is the load loop's
//! business, told through [`Reply`] and [`Lost`].
//!
//! The read buffer is the connection's and lives as long as it: it starts at 4 KiB, grows when
//! reads fill it (to 64 KiB, so a body streams through in large reads) or when the codec needs
//! a larger unit whole, and never past the codec's declared bound ([`Codec::max_buffered`]): a
//! server cannot make the driver hold more by sending more. A codec still asking for bytes with
//! its bound buffered is a decode error ([`READ_BUFFER_FULL`]), never an allocation.
//!
//! A connection is generic over its [`Stream`]: mio's `TcpStream` in a run (connecting, which
//! needs the real socket, is in `tcp.rs`), a scripted stream in the tests, which drive every
//! transition without a socket. The real one is monomorphised: no dispatch per read.
//!
//! A connection whose protocol opens with a handshake (WebSocket) is `Starting` between the TCP
//! connect and the handshake reply; one the server closes as it said it would (HTTP
//! `Connection: close`) can be connected again with [`Conn::reconnect`].

#[cfg(test)]
mod answers;
mod opening;
mod outcome;
#[cfg(test)]
mod reads;
#[cfg(test)]
mod script;
mod tcp;
#[cfg(test)]
mod tests;

pub(crate) use outcome::{Cause, Connecting, Expired, Lost, Opened, Reply};
pub(crate) use tcp::Dial;

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use mio::Token;

use crate::clock::RunClock;
use crate::config::Picker;
use crate::errors::ErrorKind;
use crate::target::{Codec, Decoded, ReplyKind, Response, Sent, Verdict};
use crate::transport::{TlsClient, Transport};

/// First read buffer size: most replies are far smaller.
const INITIAL_READ_BYTES: usize = 4096;
/// Reads that fill the buffer make it grow to this (if the codec's bound allows): a long body
/// then streams through in 64 KiB reads rather than 4 KiB ones.
const STREAM_READ_BYTES: usize = 64 * 1024;
/// A read buffer larger than this (grown for a large nines frame) is released once empty, when
/// the connection is next checked for expired requests.
const SHRINK_ABOVE_BYTES: usize = 64 * 1024;
/// Decode failure kind: the read buffer is at the codec's bound and the codec still needs more
/// (a codec that declares its bound says what was too long itself, before this).
pub(crate) const READ_BUFFER_FULL: &str = "read_buffer_full";

/// What a connection reads from and writes to: a nonblocking byte stream.
pub(crate) trait Stream: Read + Write + fmt::Debug {}

impl<T: Read + Write + fmt::Debug> Stream for T {}

/// A request sent and not yet answered.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    req: Sent,
    sent_ns: u64,
}

#[derive(Debug)]
enum State<S> {
    /// Nonblocking connect issued; the first writable event says how it went.
    Connecting(S),
    /// TCP is up; the TLS handshake is under way (TLS targets only).
    Securing(S),
    /// Connected; the protocol's opening handshake is out and its reply awaited.
    Starting(S),
    /// Established and ready for requests.
    Open(S),
    /// Failed, lost or given up; nothing is sent or read again.
    Closed,
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Conn<S = Transport> {
    state: State<S>,
    addr: SocketAddr,
    /// The local address to connect from (`--source`), if chosen.
    source: Option<IpAddr>,
    token: Token,
    /// When the current connect began (run clock), for the connect timeout of reconnects.
    connect_started_ns: u64,
    codec: Box<dyn Codec>,
    /// Chooses each request's line of the mix and payload size.
    picker: Picker,
    /// The read buffer's largest size: the codec's bound (or one first read, if larger).
    read_cap: usize,
    rbuf: Vec<u8>,
    rlen: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    /// The codec holds an answer (a pong) for when `wbuf` has been written.
    answer_owed: bool,
    in_flight: VecDeque<InFlight>,
    /// Bytes read from and written to the target over the connection's life (reconnects too).
    received_bytes: u64,
    sent_bytes: u64,
    /// The TLS client, for TLS targets: each (re)connect starts a session with it.
    tls: Option<Arc<TlsClient>>,
    /// How the current connect went so far (TCP time, TLS handshake), told when it is open.
    opened: Opened,
}

impl<S: Stream> Conn<S> {
    /// A closed connection to `addr` speaking `codec` with requests chosen by `picker`, begun
    /// at `now`; the stream comes with [`Conn::established`].
    fn new(
        addr: SocketAddr,
        source: Option<IpAddr>,
        token: Token,
        (codec, picker): (Box<dyn Codec>, Picker),
        now: u64,
    ) -> Conn<S> {
        Conn {
            state: State::Closed,
            addr,
            source,
            token,
            connect_started_ns: now,
            read_cap: codec.max_buffered().max(INITIAL_READ_BYTES),
            codec,
            picker,
            rbuf: Vec::new(),
            rlen: 0,
            wbuf: Vec::new(),
            wpos: 0,
            answer_owed: false,
            in_flight: VecDeque::new(),
            received_bytes: 0,
            sent_bytes: 0,
            tls: None,
            opened: Opened::default(),
        }
    }

    /// Forgets the bytes of a connection the server closed as it said it would, keeping the
    /// requests pipelined behind the closing reply: the server stops reading at `Connection:
    /// close`, so they were never answered and go out again, with their original due times, on
    /// the next connection ([`Conn::resend`]). That connection begins at `now`.
    fn keep_requests_for_reconnect(&mut self, now: u64) {
        let pending = std::mem::take(&mut self.in_flight);
        self.close();
        self.in_flight = pending;
        self.connect_started_ns = now;
    }

    /// Queues again every request still in flight (after a reconnect), sent now.
    pub(crate) fn resend(&mut self, now: u64) {
        for f in &mut self.in_flight {
            self.codec.encode_request(&f.req, &mut self.wbuf);
            f.sent_ns = now;
        }
    }

    /// When the current connect began (run clock).
    pub(crate) fn connect_started_ns(&self) -> u64 {
        self.connect_started_ns
    }

    /// Whether a connect (or handshake) begun at least `timeout_ns` ago is still undecided.
    pub(crate) fn connect_overdue(&self, now: u64, timeout_ns: u64) -> bool {
        self.is_connecting() && now.saturating_sub(self.connect_started_ns) >= timeout_ns
    }

    /// Makes room to read: doubles the read buffer (from its first size), up to `limit`.
    /// False if it is that large already.
    fn grow_read_buffer(&mut self, limit: usize) -> bool {
        if self.rbuf.len() >= limit {
            return false;
        }
        let n = (self.rbuf.len() * 2).clamp(INITIAL_READ_BYTES, limit);
        self.rbuf.resize(n, 0);
        true
    }

    /// Whether a connect (or its handshake) is still undecided.
    pub(crate) fn is_connecting(&self) -> bool {
        matches!(
            self.state,
            State::Connecting(_) | State::Securing(_) | State::Starting(_)
        )
    }

    /// Whether the TLS handshake is under way (a stall there is a TLS failure, not a connect
    /// failure).
    pub(crate) fn is_securing(&self) -> bool {
        matches!(self.state, State::Securing(_))
    }

    /// Whether the connection is open.
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state, State::Open(_))
    }

    /// Bytes read from the target so far, and written to it (a WebSocket upgrade included; over
    /// TLS, the plaintext: records' overhead and the TLS handshake are not counted).
    #[inline]
    pub(crate) fn transferred(&self) -> (u64, u64) {
        (self.received_bytes, self.sent_bytes)
    }

    /// Requests in flight.
    #[inline]
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Queues request `id` (due at `intended_ns`, sent now), its line and size chosen here;
    /// [`Conn::flush`] writes it.
    #[inline]
    pub(crate) fn send(&mut self, id: u64, intended_ns: u64, now: u64) {
        let req = Sent {
            id,
            intended_ns,
            pick: self.picker.pick(),
        };
        self.codec.encode_request(&req, &mut self.wbuf);
        self.in_flight.push_back(InFlight { req, sent_ns: now });
    }

    /// Writes what is queued, until done or the socket is full (the rest goes on WRITABLE),
    /// then the answer the codec owes, if any: a server that pings and never reads makes the
    /// codec replace its one pong, never queue more here.
    pub(crate) fn flush(&mut self) -> Result<(), Lost> {
        loop {
            while self.wpos < self.wbuf.len() {
                let (State::Open(stream) | State::Starting(stream)) = &mut self.state else {
                    return Ok(());
                };
                match stream.write(&self.wbuf[self.wpos..]) {
                    Ok(0) => return Err(self.lose(Cause::Error(ErrorKind::ConnectionClosed))),
                    Ok(n) => {
                        self.wpos += n;
                        self.sent_bytes += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(self.lose_io(&e)),
                }
            }
            self.wbuf.clear();
            self.wpos = 0;
            // What the transport still holds (TLS records the socket did not take) goes
            // before anything more is queued; WRITABLE brings the rest.
            let (State::Open(stream) | State::Starting(stream)) = &mut self.state else {
                return Ok(());
            };
            match stream.flush() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(self.lose_io(&e)),
            }
            if !self.answer_owed {
                return Ok(());
            }
            self.answer_owed = false;
            self.codec.take_answer(&mut self.wbuf);
        }
    }

    /// Reads until the socket is drained (or, with `to_eof`, until it closes), handing every
    /// complete reply to `on_reply` with its receive time and kind: the clock is read once per
    /// read() that returned data, so a reply's latency never includes parsing the replies
    /// before it. Returns the time of the last such read (0 if none). Anything the protocol
    /// answers by itself (pongs) is written before it returns.
    pub(crate) fn read(
        &mut self,
        clock: RunClock,
        to_eof: bool,
        on_reply: &mut impl FnMut(u64, Reply, Option<ReplyKind>),
    ) -> Result<u64, Lost> {
        let last = self.read_replies(clock, to_eof, on_reply)?;
        if !self.wbuf.is_empty() || self.answer_owed {
            self.flush()?;
        }
        Ok(last)
    }

    fn read_replies(
        &mut self,
        clock: RunClock,
        to_eof: bool,
        on_reply: &mut impl FnMut(u64, Reply, Option<ReplyKind>),
    ) -> Result<u64, Lost> {
        let mut last_read_ns = 0;
        loop {
            if self.rlen == self.rbuf.len() && !self.grow_read_buffer(self.read_cap) {
                // Full, at the codec's bound, of bytes it can make nothing of yet.
                tracing::debug!(
                    bytes = self.rlen,
                    "read buffer full; dropping the connection"
                );
                return Err(self.lose(Cause::Decode(READ_BUFFER_FULL)));
            }
            let space = self.rbuf.len() - self.rlen;
            let State::Open(stream) = &mut self.state else {
                return Ok(last_read_ns);
            };
            match stream.read(&mut self.rbuf[self.rlen..]) {
                Ok(0) => return Err(self.lose(Cause::Error(ErrorKind::ConnectionClosed))),
                Ok(n) => {
                    self.rlen += n;
                    self.received_bytes += n as u64;
                    last_read_ns = clock.now_ns();
                    if let Some(cause) = self.take_replies(last_read_ns, on_reply) {
                        return Err(self.lose(cause));
                    }
                    // A short read drained the socket: skip the read that would say EAGAIN.
                    if n < space && !to_eof {
                        return Ok(last_read_ns);
                    }
                    if n == space {
                        // More is waiting: take it in larger reads.
                        self.grow_read_buffer(self.read_cap.min(STREAM_READ_BYTES));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(last_read_ns),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.lose_io(&e)),
            }
        }
    }

    /// Decodes, matches and hands on every complete reply in the read buffer; says why the
    /// connection must end if it must (bytes that are no reply, a close from the server).
    fn take_replies(
        &mut self,
        now: u64,
        on_reply: &mut impl FnMut(u64, Reply, Option<ReplyKind>),
    ) -> Option<Cause> {
        let mut pos = 0;
        let end = loop {
            let oldest = self.in_flight.front().map(|f| f.req);
            let decoded = self
                .codec
                .decode(&self.rbuf[pos..self.rlen], oldest, &mut self.wbuf);
            match decoded {
                Ok(Some(Decoded::Reply(r))) => {
                    pos += r.consumed;
                    let reply = self.match_reply(&r, oldest);
                    on_reply(now, reply, r.kind);
                    if r.close {
                        break Some(Cause::ServerClosed);
                    }
                }
                Ok(Some(Decoded::Skip(n) | Decoded::Partial(n))) => pos += n,
                Ok(Some(Decoded::Prompt(n))) => {
                    pos += n;
                    self.answer_owed = true;
                }
                Ok(Some(Decoded::Closing(_))) => {
                    // Answer the close before going (best effort), then count the loss.
                    let _ = self.flush();
                    break Some(Cause::Error(ErrorKind::ConnectionClosed));
                }
                Ok(None) => break None,
                Err(e) => {
                    tracing::debug!(error = %e, "reply refused; dropping the connection");
                    break Some(Cause::refused(&e));
                }
            }
        };
        if pos == self.rlen {
            self.rlen = 0;
        } else if pos > 0 {
            self.rbuf.copy_within(pos..self.rlen, 0);
            self.rlen -= pos;
        }
        end
    }

    fn match_reply(&mut self, r: &Response, oldest: Option<Sent>) -> Reply {
        let entry = if oldest.is_some_and(|o| o.id == r.id) {
            self.in_flight.pop_front()
        } else {
            let at = self.in_flight.iter().position(|f| f.req.id == r.id);
            at.and_then(|i| self.in_flight.remove(i))
        };
        let Some(f) = entry else {
            return Reply::Stray;
        };
        let line = f.req.pick.line;
        match r.verdict {
            Verdict::Ok | Verdict::Capped => Reply::Answered {
                intended_ns: f.req.intended_ns,
                sent_ns: f.sent_ns,
                capped: r.verdict == Verdict::Capped,
                line,
            },
            Verdict::WrongContent => Reply::BadPayload { line },
            Verdict::Rejected => Reply::Rejected { line },
        }
    }

    /// Gives up on requests sent `timeout_ns` ago or more (and releases a read buffer a burst
    /// of large replies left behind: this runs every few milliseconds, not per reply).
    pub(crate) fn expire(&mut self, now: u64, timeout_ns: u64) -> Expired {
        if self.rlen == 0 && self.rbuf.len() > SHRINK_ABOVE_BYTES {
            self.rbuf = Vec::new();
        }
        let timed_out = self
            .in_flight
            .iter()
            .take_while(|f| now.saturating_sub(f.sent_ns) >= timeout_ns)
            .count();
        if timed_out == 0 {
            return Expired::default();
        }
        if self.codec.replies_carry_ids() {
            // A late reply will find no entry and count as a stray.
            self.in_flight.drain(..timed_out);
            return Expired {
                timed_out: timed_out as u64,
                closed_aborting: None,
            };
        }
        let aborted = self.close() - timed_out as u64;
        Expired {
            timed_out: timed_out as u64,
            closed_aborting: Some(aborted),
        }
    }

    /// Closes the connection (if open) and forgets its requests; returns how many were in flight.
    pub(crate) fn close(&mut self) -> u64 {
        self.state = State::Closed;
        let n = self.in_flight.len() as u64;
        self.in_flight.clear();
        self.rbuf = Vec::new();
        self.wbuf = Vec::new();
        self.rlen = 0;
        self.wpos = 0;
        self.answer_owed = false;
        n
    }

    /// Ends the connection for `cause`; a close the server announced leaves the requests in
    /// flight for [`Conn::reconnect`] to send again.
    fn lose(&mut self, cause: Cause) -> Lost {
        let aborted = if cause == Cause::ServerClosed {
            0
        } else {
            self.close()
        };
        Lost {
            cause,
            aborted,
            refusal: None,
        }
    }

    /// Ends the connection for a failed read or write, keeping a TLS refusal's words.
    fn lose_io(&mut self, e: &io::Error) -> Lost {
        Lost {
            refusal: crate::transport::Failure::refusal(e).map(Box::new),
            ..self.lose(Cause::Error(io_kind(e)))
        }
    }
}

/// The error kind of a failed read or write: a close by the peer, a TLS refusal (an alert after
/// the handshake), or something else.
fn io_kind(e: &io::Error) -> ErrorKind {
    if let Some(f) = crate::transport::Failure::refusal(e) {
        tracing::debug!(failure = %f, "TLS refusal on an open connection");
        return f.kind.error_kind();
    }
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => ErrorKind::ConnectionClosed,
        _ => {
            tracing::debug!(error = %e, "connection I/O error");
            ErrorKind::Io
        }
    }
}
