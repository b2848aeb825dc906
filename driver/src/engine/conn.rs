//! One driver connection: its socket (in a state that says whether it is connecting, open or
//! closed), its read and write buffers, its requests in flight and its codec.
//!
//! The connection moves bytes and matches replies to requests; the codec alone knows the
//! protocol; what a reply means for the run (recorded, counted as an error) is the load loop's
//! business, told through [`Reply`] and [`Lost`].

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::clock::RunClock;
use crate::errors::ErrorKind;
use crate::target::{Codec, Response};

/// First read buffer size; it doubles when a read fills it (up to the codec's largest reply).
const INITIAL_READ_BYTES: usize = 4096;

/// A request sent and not yet answered.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: u64,
    intended_ns: u64,
    sent_ns: u64,
}

#[derive(Debug)]
enum State {
    /// Nonblocking connect issued; the first writable event says how it went.
    Connecting(TcpStream),
    /// Established.
    Open(TcpStream),
    /// Failed, lost or given up; nothing is sent or read again.
    Closed,
}

/// How a nonblocking connect is going.
#[derive(Debug)]
pub(crate) enum Connecting {
    /// Not decided yet.
    Pending,
    /// The connection is open.
    Established,
    /// It failed; the connection is closed.
    Failed(io::Error),
}

/// A reply taken off the wire and matched (or not) to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// The right answer to a request.
    Answered {
        /// When the request was due.
        intended_ns: u64,
        /// When it was written.
        sent_ns: u64,
        /// The server did less than asked and said so.
        capped: bool,
    },
    /// An answer to a request, with the wrong content.
    BadPayload,
    /// A reply no request in flight asked for.
    Stray,
}

/// A connection was lost: why, and how many requests in flight went with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lost {
    /// The connection-level error.
    pub kind: ErrorKind,
    /// Requests that were in flight on it.
    pub aborted: u64,
}

/// What [`Conn::expire`] gave up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Expired {
    /// Requests unanswered past the timeout.
    pub timed_out: u64,
    /// For in-order protocols, the connection had to be closed (later replies could no longer
    /// be attributed): the other requests in flight on it.
    pub closed_aborting: Option<u64>,
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Conn {
    state: State,
    codec: Box<dyn Codec>,
    rbuf: Vec<u8>,
    rlen: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    in_flight: VecDeque<InFlight>,
}

impl Conn {
    /// Starts a nonblocking connect to `addr`, registered under `token`. A connection that
    /// could not even be started is returned closed, with the error.
    pub(crate) fn connect(
        addr: SocketAddr,
        token: Token,
        registry: &Registry,
        codec: Box<dyn Codec>,
    ) -> (Conn, Option<io::Error>) {
        let mut conn = Conn {
            state: State::Closed,
            codec,
            rbuf: Vec::new(),
            rlen: 0,
            wbuf: Vec::new(),
            wpos: 0,
            in_flight: VecDeque::new(),
        };
        let started = TcpStream::connect(addr).and_then(|mut s| {
            // Without it, Nagle's algorithm holds a request written while an earlier one on the
            // connection is unacknowledged until that ACK arrives (with the earlier reply, if
            // the server delays its ACKs): pipelined and open-loop requests would leave late,
            // and be timed from when they were written, not sent.
            s.set_nodelay(true)?;
            registry.register(&mut s, token, Interest::READABLE | Interest::WRITABLE)?;
            Ok(s)
        });
        match started {
            Ok(s) => {
                conn.state = State::Connecting(s);
                (conn, None)
            }
            Err(e) => (conn, Some(e)),
        }
    }

    /// Checks a connecting socket after an event (mio's recipe: an error is reported by
    /// `take_error`, success by `peer_addr`; `NotConnected` means the event came early).
    pub(crate) fn poll_connect(&mut self) -> Connecting {
        let State::Connecting(s) = &self.state else {
            return Connecting::Pending;
        };
        let result = match s.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match s.peer_addr() {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(false) => Connecting::Pending,
            Ok(true) => {
                let State::Connecting(s) = std::mem::replace(&mut self.state, State::Closed) else {
                    unreachable!("checked above");
                };
                self.state = State::Open(s);
                Connecting::Established
            }
            Err(e) => {
                self.state = State::Closed;
                Connecting::Failed(e)
            }
        }
    }

    /// Whether a connect is still undecided.
    pub(crate) fn is_connecting(&self) -> bool {
        matches!(self.state, State::Connecting(_))
    }

    /// Whether the connection is open.
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state, State::Open(_))
    }

    /// Requests in flight.
    #[inline]
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Queues request `id` (due at `intended_ns`, sent now); [`Conn::flush`] writes it.
    #[inline]
    pub(crate) fn send(&mut self, id: u64, intended_ns: u64, now: u64) {
        self.codec.encode_request(id, intended_ns, &mut self.wbuf);
        self.in_flight.push_back(InFlight {
            id,
            intended_ns,
            sent_ns: now,
        });
    }

    /// Writes what is queued, until done or the socket is full (the rest goes on WRITABLE).
    pub(crate) fn flush(&mut self) -> Result<(), Lost> {
        while self.wpos < self.wbuf.len() {
            let State::Open(stream) = &mut self.state else {
                return Ok(());
            };
            match stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(self.lose(ErrorKind::ConnectionClosed)),
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.lose(io_kind(&e))),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        Ok(())
    }

    /// Reads until the socket is drained (or, with `to_eof`, until it closes), handing every
    /// complete reply to `on_reply` with its receive time: the clock is read once per read()
    /// that returned data, so a reply's latency never includes parsing the replies before it.
    /// Returns the time of the last such read (0 if none).
    pub(crate) fn read(
        &mut self,
        clock: RunClock,
        to_eof: bool,
        on_reply: &mut impl FnMut(u64, Reply),
    ) -> Result<u64, Lost> {
        let mut last_read_ns = 0;
        loop {
            if self.rlen == self.rbuf.len() {
                let n = (self.rbuf.len() * 2).max(INITIAL_READ_BYTES);
                self.rbuf.resize(n, 0);
            }
            let space = self.rbuf.len() - self.rlen;
            let State::Open(stream) = &mut self.state else {
                return Ok(last_read_ns);
            };
            match stream.read(&mut self.rbuf[self.rlen..]) {
                Ok(0) => return Err(self.lose(ErrorKind::ConnectionClosed)),
                Ok(n) => {
                    self.rlen += n;
                    last_read_ns = clock.now_ns();
                    if !self.take_replies(last_read_ns, on_reply) {
                        return Err(self.lose(ErrorKind::Decode));
                    }
                    // A short read drained the socket: skip the read that would say EAGAIN.
                    if n < space && !to_eof {
                        return Ok(last_read_ns);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(last_read_ns),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.lose(io_kind(&e))),
            }
        }
    }

    /// Decodes, matches and hands on every complete reply in the read buffer; false if the
    /// bytes cannot be parsed at all.
    fn take_replies(&mut self, now: u64, on_reply: &mut impl FnMut(u64, Reply)) -> bool {
        let mut pos = 0;
        let ok = loop {
            let oldest = self.in_flight.front().map(|f| f.id);
            match self
                .codec
                .decode_response(&self.rbuf[pos..self.rlen], oldest)
            {
                Ok(Some(r)) => {
                    pos += r.consumed;
                    let reply = self.match_reply(&r, oldest);
                    on_reply(now, reply);
                }
                Ok(None) => break true,
                Err(e) => {
                    tracing::debug!(error = %e, "undecodable reply; dropping the connection");
                    break false;
                }
            }
        };
        if pos == self.rlen {
            self.rlen = 0;
        } else if pos > 0 {
            self.rbuf.copy_within(pos..self.rlen, 0);
            self.rlen -= pos;
        }
        ok
    }

    fn match_reply(&mut self, r: &Response, oldest: Option<u64>) -> Reply {
        let entry = if oldest == Some(r.id) {
            self.in_flight.pop_front()
        } else {
            let at = self.in_flight.iter().position(|f| f.id == r.id);
            at.and_then(|i| self.in_flight.remove(i))
        };
        match entry {
            None => Reply::Stray,
            Some(_) if !r.valid => Reply::BadPayload,
            Some(req) => Reply::Answered {
                intended_ns: req.intended_ns,
                sent_ns: req.sent_ns,
                capped: r.capped,
            },
        }
    }

    /// Gives up on requests sent `timeout_ns` ago or more.
    pub(crate) fn expire(&mut self, now: u64, timeout_ns: u64) -> Expired {
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
        n
    }

    fn lose(&mut self, kind: ErrorKind) -> Lost {
        Lost {
            kind,
            aborted: self.close(),
        }
    }
}

/// The error kind of a failed read or write: a close by the peer, or something else.
fn io_kind(e: &io::Error) -> ErrorKind {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::RequestSpec;

    #[test]
    fn connections_send_at_once_without_waiting_for_acks() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let poll = mio::Poll::new().unwrap();
        let (conn, err) = Conn::connect(
            listener.local_addr().unwrap(),
            Token(0),
            poll.registry(),
            RequestSpec::default().codec(),
        );
        assert!(err.is_none());
        let State::Connecting(s) = &conn.state else {
            panic!("not connecting: {:?}", conn.state);
        };
        assert!(s.nodelay().unwrap(), "TCP_NODELAY is set");
    }
}
