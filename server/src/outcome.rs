//! Why the server closes a connection its client did not close: input it refuses
//! ([`RequestError`], with [`HttpError`] and [`WsRefusal`]) or a limit the connection ran past
//! ([`Expiry`]).
//!
//! The protocols (`http`, `ws`, `handler`) and the connection's limits (`conn`, `worker`) produce
//! these, and the counters (`stats`) count each kind; naming them in a leaf below all of those
//! keeps the counters from having to know any protocol, and no protocol from reaching up.

use nines_protocol::ws::WsError;
use nines_protocol::DecodeError;

/// Why a connection's input was refused; the connection is closed after what is owed is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// A nines frame that does not decode.
    Frame(DecodeError),
    /// An HTTP request (or WebSocket upgrade) the server cannot answer.
    Http(HttpError),
    /// A WebSocket frame or message the server refuses.
    Ws(WsRefusal),
}

impl RequestError {
    /// Short stable name.
    pub fn kind(&self) -> &'static str {
        match self {
            RequestError::Frame(e) => e.kind(),
            RequestError::Http(e) => e.kind(),
            RequestError::Ws(e) => e.kind(),
        }
    }

    /// Whether it came from a WebSocket client: a refused upgrade or frame.
    pub fn is_ws(&self) -> bool {
        matches!(
            self,
            RequestError::Ws(_) | RequestError::Http(HttpError::BadUpgrade)
        )
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::Frame(e) => e.fmt(f),
            RequestError::Ws(WsRefusal::Frame(e)) => e.fmt(f),
            other => f.write_str(other.kind()),
        }
    }
}

/// Why an HTTP request was refused; its kind is what the counters and logs say, its status
/// what the client is told (`http::status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// httparse could not read the request line or a header (400).
    Malformed,
    /// A Content-Length that is not 1*DIGIT within usize, one given twice (even the same
    /// value, as nginx refuses it), or one beside Transfer-Encoding: the request-smuggling
    /// shapes of RFC 9112 §6.3 (400).
    ContentLength,
    /// The head was longer than `http::MAX_HEAD_BYTES` (431).
    HeadTooLarge,
    /// The head had more than `http::MAX_HEADERS` header lines (431).
    TooManyHeaders,
    /// An HTTP/1.1 request without a Host, or any request with two: RFC 9112 §3.2 says 400,
    /// as nginx answers (a proxy and the server behind it may each read a different one).
    Host,
    /// A body over `--max-frame` (413).
    BodyTooLarge,
    /// A body sent with Transfer-Encoding (chunked), which the server does not read (413).
    TransferEncoding,
    /// Not HTTP/1.x at all, or a WebSocket upgrade that is not one (400).
    BadUpgrade,
}

impl HttpError {
    /// Short stable name.
    pub fn kind(self) -> &'static str {
        match self {
            HttpError::Malformed => "http_malformed",
            HttpError::ContentLength => "http_content_length",
            HttpError::HeadTooLarge => "http_head_too_large",
            HttpError::TooManyHeaders => "http_too_many_headers",
            HttpError::Host => "http_host",
            HttpError::BodyTooLarge => "http_body_too_large",
            HttpError::TransferEncoding => "http_transfer_encoding",
            HttpError::BadUpgrade => "http_bad_upgrade",
        }
    }
}

/// Why a WebSocket frame or message was refused (RFC 6455); the connection is answered with a
/// close frame carrying [`WsRefusal::close_code`], then closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsRefusal {
    /// The frame header does not decode: reserved bits, a reserved opcode, a fragmented or
    /// long control frame (§5.2, §5.5). A frame too long is [`WsRefusal::TooLarge`] instead.
    Frame(WsError),
    /// A client frame without a mask (§5.1).
    Unmasked,
    /// A frame, header and payload, longer than `--max-frame`.
    TooLarge,
    /// A continuation frame with no fragmented message to continue (§5.4).
    StrayContinuation,
    /// A new text or binary frame before the fragmented message in progress ended (§5.4).
    UnfinishedMessage,
    /// A close frame whose payload is one byte: half a status code (§5.5.1).
    ClosePayload,
    /// A close code that may not be sent: under 1000, 1004-1006, 1015, 1016-2999
    /// (unassigned), 5000 and over (§7.4).
    CloseCode(u16),
    /// A text message, or a close reason, that is not UTF-8 (§8.1, §5.5.1).
    Utf8,
}

/// The close codes a refusal is answered with (RFC 6455 §7.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// 1002: the peer broke the protocol.
    ProtocolError = 1002,
    /// 1007: data inconsistent with its message type (text that is not UTF-8).
    InvalidData = 1007,
    /// 1009: a message too big to process.
    TooBig = 1009,
}

impl WsRefusal {
    /// The close code the client is told.
    pub fn close_code(self) -> CloseCode {
        match self {
            WsRefusal::Utf8 => CloseCode::InvalidData,
            WsRefusal::TooLarge => CloseCode::TooBig,
            WsRefusal::Frame(_)
            | WsRefusal::Unmasked
            | WsRefusal::StrayContinuation
            | WsRefusal::UnfinishedMessage
            | WsRefusal::ClosePayload
            | WsRefusal::CloseCode(_) => CloseCode::ProtocolError,
        }
    }

    /// Short stable name.
    pub fn kind(self) -> &'static str {
        match self {
            WsRefusal::Frame(e) => e.kind(),
            WsRefusal::Unmasked => "ws_unmasked",
            WsRefusal::TooLarge => "ws_too_large",
            WsRefusal::StrayContinuation => "ws_stray_continuation",
            WsRefusal::UnfinishedMessage => "ws_unfinished_message",
            WsRefusal::ClosePayload => "ws_close_payload",
            WsRefusal::CloseCode(_) => "ws_close_code",
            WsRefusal::Utf8 => "ws_invalid_utf8",
        }
    }
}

/// Why a limit closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Under budget pressure, it held more than its share and its client was not reading.
    OverBudget,
    /// A request begun was not finished within `--read-timeout`.
    Read,
    /// A TLS handshake was not finished within `--read-timeout` of the accept.
    Handshake,
    /// No request for `--idle-timeout`.
    Idle,
    /// Replies made no progress toward the client for `--send-timeout`.
    Send,
}
