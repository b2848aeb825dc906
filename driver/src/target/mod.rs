//! Wire codecs: how the driver writes a request and recognises its response.
//!
//! Everything protocol-specific the driver does goes through [`Codec`]; connection handling,
//! scheduling and recording never look at bytes. A new protocol is one more implementation of
//! this trait (a module here), one arm of [`RequestSpec`] and one in [`RequestSpec::codec`].
//!
//! Codecs whose replies carry the request id (nines) report it; for the others (echo, HTTP,
//! WebSocket and RESP, which answer in order) the connection matches replies to its oldest
//! request in flight, and passes that request's id in so the codec can check the reply's content.
//!
//! Memory is bounded by the codecs, not by the servers: a codec never needs more than
//! [`Codec::max_buffered`] bytes in the read buffer to make progress. What it can check as it
//! arrives (an HTTP body, a WebSocket payload, a RESP bulk string) it takes a piece at a time
//! ([`Decoded::Partial`]), keeping its place in a few words of its own state, so a 1 GiB download
//! costs the driver a 64 KiB buffer, not a gigabyte; only what must be seen whole (a response
//! head, a line, a nines frame) is buffered, up to its declared bound.

mod counted;

mod echo;
#[cfg(test)]
mod feed;
mod http;
mod kind;
mod nines;
mod redis;
pub mod url;
mod ws;

pub use echo::EchoCodec;
pub use http::HttpCodec;
pub use kind::ReplyKind;
pub use nines::NinesCodec;
pub use redis::RedisCodec;
pub use ws::WsCodec;

use crate::config::{Pick, Picker, RequestSpec, Requests};
use crate::errors::ErrorKind;

/// One request as it was sent: its id, when it was due, and what was chosen for it (its line
/// of the mix and its payload size). The connection keeps it while the request is in flight
/// and hands the oldest one to [`Codec::decode`], so a codec can check a reply against what
/// was asked without keeping a queue of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sent {
    /// Request id.
    pub id: u64,
    /// When it was due (ns on the driver's run clock).
    pub intended_ns: u64,
    /// Its line and payload size.
    pub pick: Pick,
}

impl Sent {
    /// Request `id` of line 0 with a `size`-byte payload, due at 0 (tests, probes).
    pub fn of(id: u64, size: usize) -> Sent {
        Sent {
            id,
            intended_ns: 0,
            pick: Pick {
                line: 0,
                size: size as u32,
            },
        }
    }
}

/// What a reply says about its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The right answer.
    Ok,
    /// The right answer to less than was asked, and the server said so (nines' CAPPED flag: Work
    /// over its CPU cap, Source over its largest frame): counted, and the report says what it
    /// measured.
    Capped,
    /// An answer with the wrong content (payload, length, reply type).
    WrongContent,
    /// A well-formed answer saying the request failed: an HTTP status not accepted, a Redis
    /// error reply.
    Rejected,
}

/// One parsed response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// Bytes of the read buffer this call used: the whole response, or what was left of it
    /// when its earlier bytes were taken as [`Decoded::Partial`].
    pub consumed: usize,
    /// The request this answers: from the wire when the protocol carries ids, else the
    /// `oldest_in_flight` the connection passed in.
    pub id: u64,
    /// What it says about the request.
    pub verdict: Verdict,
    /// Its kind for the report's distribution (HTTP status, RESP reply type), if the protocol
    /// has kinds.
    pub kind: Option<ReplyKind>,
    /// The server closes the connection after this reply, as it said (HTTP `Connection:
    /// close`): the driver reconnects and counts it.
    pub close: bool,
}

impl Response {
    /// A reply with no kind that keeps the connection open.
    pub fn new(consumed: usize, id: u64, verdict: Verdict) -> Response {
        Response {
            consumed,
            id,
            verdict,
            kind: None,
            close: false,
        }
    }
}

/// What one call to [`Codec::decode`] found at the front of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// A reply to a request (or the last part of it).
    Reply(Response),
    /// This many bytes of a reply that is still arriving, checked and no longer needed: the
    /// codec keeps its place and the connection drops them from the buffer. Never 0 (a codec
    /// with nothing to take says `Ok(None)`).
    Partial(usize),
    /// Bytes that answer no request (a pong; an interim 1xx).
    Skip(usize),
    /// Bytes that answer no request and are owed an answer (a ping), which the codec holds
    /// until what the connection queued before is written, then gives with
    /// [`Codec::take_answer`]. It holds one: a later ping replaces it (RFC 6455 §5.5.3), so a
    /// server that pings faster than it reads costs the driver one pong, not a queue of them.
    Prompt(usize),
    /// The server began closing the connection (a WebSocket close frame, answered in the
    /// output): the connection is lost.
    Closing(usize),
}

/// Bytes the driver will not take as a response; the connection is closed and counted under
/// `kind`: a short stable name of what was undecodable (`http_status_line`, `resp_type`,
/// `ws_frame`, ...), counted as `decode`, or the name of the error kind a response past one of
/// the driver's bounds is counted as (`response_too_large`, ...): [`CodecError::counts_as`].
/// Two words and a string, as small as it was: it is on the decode path's return type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct CodecError {
    /// Short stable name, for the report's counts: what was undecodable, or the bound's kind.
    pub kind: &'static str,
    /// What was wrong, for the log.
    pub detail: String,
}

impl CodecError {
    /// Undecodable bytes, of `kind`.
    pub fn new(kind: &'static str, detail: impl Into<String>) -> CodecError {
        CodecError {
            kind,
            detail: detail.into(),
        }
    }

    /// A response past one of the driver's bounds, counted as `bound`.
    pub fn over(bound: ErrorKind, detail: impl Into<String>) -> CodecError {
        CodecError::new(bound.name(), detail)
    }

    /// A response past `--max-response`: `what` it was (`a body announcing 2^63 bytes`).
    pub fn too_large(what: impl std::fmt::Display, max_bytes: u64) -> CodecError {
        CodecError::over(
            ErrorKind::ResponseTooLarge,
            format!("{what}, past --max-response ({max_bytes} bytes)"),
        )
    }

    /// The error it is counted as: the bound's kind for [`CodecError::over`], else `decode`
    /// (no decode failure is named as an error kind is).
    pub fn counts_as(&self) -> ErrorKind {
        ErrorKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == self.kind)
            .unwrap_or(ErrorKind::Decode)
    }
}

/// A request/response wire format, one instance per connection.
pub trait Codec: Send + std::fmt::Debug {
    /// Appends what must be sent as soon as the connection is open, before any request (the
    /// WebSocket upgrade), and says whether there is any. Called again on every reconnect.
    fn start(&mut self, _out: &mut Vec<u8>) -> bool {
        false
    }

    /// Parses the reply to what [`Codec::start`] sent: `Ok(Some(consumed))` once the connection
    /// is ready for requests, `Ok(None)` while more bytes are needed.
    fn finish_start(&mut self, _buf: &[u8]) -> Result<Option<usize>, CodecError> {
        Ok(Some(0))
    }

    /// Appends request `req` (its id, intended send time, line and size).
    fn encode_request(&mut self, req: &Sent, out: &mut Vec<u8>);

    /// Parses what is at the front of `buf`. `Ok(None)` means more bytes are needed, which a
    /// codec may say only while `buf` is shorter than [`Codec::max_buffered`].
    /// `oldest_in_flight` is the connection's oldest unanswered request, if any.
    /// An answer the protocol requires at once (a close's) is appended to `out`.
    fn decode(
        &mut self,
        buf: &[u8],
        oldest_in_flight: Option<Sent>,
        out: &mut Vec<u8>,
    ) -> Result<Option<Decoded>, CodecError>;

    /// The most bytes this codec needs in the read buffer at once to make progress (its largest
    /// unit held whole: a response head, a line, a frame), handshake included. The connection
    /// never grows its buffer past it; a codec that still needs more has been sent something
    /// its protocol does not allow, and should have said so with an error of its own kind.
    fn max_buffered(&self) -> usize;

    /// Appends the answer owed since [`Decoded::Prompt`] (the latest ping's pong), if any: the
    /// connection asks once everything it queued before has been written.
    fn take_answer(&mut self, _out: &mut Vec<u8>) {}

    /// Whether replies carry their request's id. If not, replies are matched in order, and a
    /// request given up on (timed out) leaves the connection's order unknowable: it is closed.
    fn replies_carry_ids(&self) -> bool;
}

impl Requests {
    /// A fresh codec for one connection, speaking every line: the one place request values
    /// become wire bytes.
    pub fn codec(&self) -> Box<dyn Codec> {
        let specs: Vec<&RequestSpec> = self.lines().iter().map(|l| &l.request).collect();
        match self.first() {
            RequestSpec::Nines(_) => Box::new(NinesCodec::new(&specs)),
            RequestSpec::Echo { .. } => {
                let most = specs.iter().filter_map(|s| s.payload()).map(|p| p.max());
                Box::new(EchoCodec::new(most.max().unwrap_or(1)))
            }
            RequestSpec::Http(_) => Box::new(HttpCodec::new(&specs)),
            RequestSpec::Ws(_) => Box::new(WsCodec::new(&specs)),
            RequestSpec::Redis(_) => Box::new(RedisCodec::new(&specs)),
        }
    }
}

impl Requests {
    /// What connection number `index` of a run speaks: a fresh codec, and a picker of its own
    /// (a thread opening many connections makes them from one picker:
    /// [`Picker::for_connection`]).
    pub fn speaker(&self, index: u64) -> (Box<dyn Codec>, Picker) {
        (self.codec(), Picker::new(self, index))
    }
}

impl RequestSpec {
    /// A fresh codec for one connection sending only this request.
    pub fn codec(&self) -> Box<dyn Codec> {
        Requests::one(self.clone()).codec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_counts_as_its_kind_and_anything_else_as_decode() {
        for kind in [ErrorKind::ResponseTooLarge, ErrorKind::TooManyElements] {
            assert_eq!(CodecError::over(kind, "").counts_as(), kind);
        }
        for name in [
            "http_status_line",
            "resp_line_too_long",
            "ws_masked",
            "read_buffer_full",
        ] {
            assert_eq!(CodecError::new(name, "").counts_as(), ErrorKind::Decode);
        }
    }
}
