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

use nines_common::Protocol;
use nines_protocol::Op;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    /// The server did less than asked and said so (nines' CAPPED flag: Work over its CPU cap,
    /// Source over its largest frame): the reply is counted, and the report says what it
    /// measured.
    pub capped: bool,
}

/// Bytes the driver cannot parse as a response at all; the connection is closed and counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(pub String);

/// A request/response wire format.
pub trait Codec: Send + std::fmt::Debug {
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

/// What each request asks for, independent of the connection it goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestSpec {
    /// Protocol spoken.
    pub protocol: Protocol,
    /// nines op (ignored by echo).
    #[serde(serialize_with = "serialize_op", deserialize_with = "deserialize_op")]
    pub op: Op,
    /// Request payload bytes (echo), or reply bytes asked for (Source).
    pub payload_bytes: usize,
    /// CPU microseconds asked for by Work.
    pub work_us: u32,
}

impl Default for RequestSpec {
    /// `nines bench`'s default: 64-byte nines echo.
    fn default() -> Self {
        RequestSpec {
            protocol: Protocol::Nines,
            op: Op::Echo,
            payload_bytes: crate::config::defaults::PAYLOAD_BYTES,
            work_us: crate::config::defaults::WORK_US,
        }
    }
}

fn serialize_op<S: Serializer>(op: &Op, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(op.name())
}

fn deserialize_op<'de, D: Deserializer<'de>>(d: D) -> Result<Op, D::Error> {
    let name = String::deserialize(d)?;
    Op::from_name(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown op `{name}`")))
}

impl RequestSpec {
    /// A fresh codec for one connection.
    pub fn codec(&self) -> Box<dyn Codec> {
        match self.protocol {
            Protocol::Nines => Box::new(NinesCodec::new(self)),
            Protocol::Echo => Box::new(EchoCodec::new(self.payload_bytes)),
        }
    }

    /// What each request asks for, in words (`nines echo 64 B`, `nines work 10 µs`, `64 B echo`).
    pub fn describe(&self) -> String {
        match (self.protocol, self.op) {
            (Protocol::Echo, _) => format!("{} B echo", self.payload_bytes),
            (Protocol::Nines, Op::Work) => format!("nines work {} µs", self.work_us),
            (Protocol::Nines, Op::Stats) => "nines stats".to_string(),
            (Protocol::Nines, op) => format!("nines {op} {} B", self.payload_bytes),
        }
    }
}
