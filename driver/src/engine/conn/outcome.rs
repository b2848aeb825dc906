//! What a connection tells the loop that drives it: how a connect is going, what a reply
//! meant, why the connection ended and what expiry gave up on. Outcomes, not actions: the
//! connection never counts or records anything itself, so the load loop and the storm decide
//! what each outcome does to the run, in one place each.

use std::io;

use crate::errors::ErrorKind;
use crate::target::CodecError;
use crate::transport::{Failure, Handshake};

/// How a nonblocking connect is going.
#[derive(Debug)]
pub(crate) enum Connecting {
    /// Not decided yet.
    Pending,
    /// The connection is open (and its handshakes done): how setting it up went.
    Established(Opened),
    /// It failed; the connection is closed.
    Failed(io::Error),
    /// The handshake was refused or garbled (its kind); the connection is closed.
    Refused(&'static str),
    /// The TLS handshake failed; the connection is closed.
    TlsFailed(Failure),
}

/// How an open connection was set up, for the connect and handshake histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Opened {
    /// From starting the connect to TCP being up, ns.
    pub tcp_ns: u64,
    /// The TLS handshake after it (TLS targets).
    pub tls: Option<Handshake>,
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
        /// The request's line of the mix.
        line: u16,
    },
    /// An answer to a request (of this line of the mix), with the wrong content.
    BadPayload {
        /// The request's line.
        line: u16,
    },
    /// A well-formed answer saying the request (of this line) failed (HTTP status, Redis
    /// error).
    Rejected {
        /// The request's line.
        line: u16,
    },
    /// A reply no request in flight asked for.
    Stray,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// A connection-level error.
    Error(ErrorKind),
    /// Bytes that are no reply at all, of this kind (`http_status_line`, `resp_type`, ...).
    Decode(&'static str),
    /// The server closed it after a reply, as that reply said it would: connect again.
    ServerClosed,
}

impl Cause {
    /// The codec refused what the server sent: undecodable bytes, or a response past a bound.
    pub(crate) fn refused(e: &CodecError) -> Cause {
        match e.counts_as() {
            ErrorKind::Decode => Cause::Decode(e.kind),
            bound => Cause::Error(bound),
        }
    }
}

/// A connection was lost: why, and how many requests in flight went with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lost {
    /// Why.
    pub cause: Cause,
    /// Requests that were in flight on it.
    pub aborted: u64,
    /// The server's TLS refusal in words, when that is why (an alert on an open connection).
    pub refusal: Option<Box<Failure>>,
}

/// What [`super::Conn::expire`] gave up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Expired {
    /// Requests unanswered past the timeout.
    pub timed_out: u64,
    /// For in-order protocols, the connection had to be closed (later replies could no longer
    /// be attributed): the other requests in flight on it.
    pub closed_aborting: Option<u64>,
}
