//! Wire codecs: how the driver writes a request and recognises its response.
//!
//! Everything protocol-specific the driver does goes through [`Codec`]; connection handling,
//! scheduling and recording never look at bytes. A codec for a new kind of server (HTTP/1.1,
//! Redis RESP) is one more implementation of this trait.
//!
//! Codecs whose replies carry the request id (nines) report it; for the others (echo, and later
//! HTTP and RESP, which answer in order) the connection matches replies to its oldest request
//! in flight, and passes that request's id in so the codec can check the reply's content.

mod echo;
mod nines;

pub use echo::EchoCodec;
pub use nines::NinesCodec;

use std::fmt;
use std::str::FromStr;

/// One parsed response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// Bytes of the read buffer this response used.
    pub consumed: usize,
    /// The request this answers: from the wire when the protocol carries ids, else the
    /// `oldest_in_flight` the connection passed in.
    pub id: u64,
    /// Whether the content is what that request must get back (payload, length, flags).
    pub valid: bool,
}

/// Bytes the driver cannot parse as a response at all; the connection is closed and counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(pub String);

/// A request/response wire format.
pub trait Codec: Send {
    /// Appends the request with this `id` and intended send time (ns on the driver's run clock).
    fn encode_request(&mut self, id: u64, intended_ns: u64, out: &mut Vec<u8>);

    /// Parses one response from the front of `buf`. `Ok(None)` means more bytes are needed.
    /// `oldest_in_flight` is the id of the connection's oldest unanswered request, if any.
    fn decode_response(
        &mut self,
        buf: &[u8],
        oldest_in_flight: Option<u64>,
    ) -> Result<Option<Response>, CodecError>;

    /// Whether replies carry their request's id. If not, replies are matched in order, and a
    /// request given up on (timed out) leaves the connection's order unknowable: it is closed.
    fn replies_carry_ids(&self) -> bool;
}

/// The protocols the driver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolKind {
    /// nines frames, to nines-server.
    #[default]
    Nines,
    /// Raw echo: send N bytes, expect the same N bytes back.
    Echo,
}

impl FromStr for ProtocolKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "nines" => Ok(ProtocolKind::Nines),
            "echo" => Ok(ProtocolKind::Echo),
            _ => Err(format!("unknown protocol `{s}` (expected nines or echo)")),
        }
    }
}

impl fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtocolKind::Nines => "nines",
            ProtocolKind::Echo => "echo",
        })
    }
}

/// What each request asks for, independent of the connection it goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RequestSpec {
    /// Protocol spoken.
    pub protocol: ProtocolKind,
    /// nines op (ignored by echo).
    #[serde(serialize_with = "serialize_op")]
    pub op: nines_protocol::Op,
    /// Request payload bytes (echo), or reply bytes asked for (Source).
    pub payload_bytes: usize,
    /// CPU microseconds asked for by Work.
    pub work_us: u32,
}

fn serialize_op<S: serde::Serializer>(op: &nines_protocol::Op, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(op.name())
}

impl RequestSpec {
    /// A fresh codec for one connection.
    pub fn codec(&self) -> Box<dyn Codec> {
        match self.protocol {
            ProtocolKind::Nines => Box::new(NinesCodec::new(self)),
            ProtocolKind::Echo => Box::new(EchoCodec::new(self.payload_bytes)),
        }
    }
}
