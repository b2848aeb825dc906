//! Why the server closes a connection its client did not close: input it refuses
//! ([`RequestError`], with [`HttpError`]) or a limit the connection ran past ([`Expiry`]).
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
    /// A WebSocket frame the server refuses.
    Ws(WsError),
    /// A WebSocket frame from a client without a mask (RFC 6455 §5.1).
    Unmasked,
}

impl RequestError {
    /// Short stable name.
    pub fn kind(&self) -> &'static str {
        match self {
            RequestError::Frame(e) => e.kind(),
            RequestError::Http(e) => e.kind(),
            RequestError::Ws(e) => e.kind(),
            RequestError::Unmasked => "ws_unmasked",
        }
    }

    /// Whether it came from a WebSocket client: a refused upgrade or frame.
    pub fn is_ws(&self) -> bool {
        matches!(
            self,
            RequestError::Ws(_)
                | RequestError::Unmasked
                | RequestError::Http(HttpError::BadUpgrade)
        )
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::Frame(e) => e.fmt(f),
            RequestError::Ws(e) => e.fmt(f),
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
            HttpError::BodyTooLarge => "http_body_too_large",
            HttpError::TransferEncoding => "http_transfer_encoding",
            HttpError::BadUpgrade => "http_bad_upgrade",
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
    /// No request for `--idle-timeout`.
    Idle,
    /// Replies made no progress toward the client for `--send-timeout`.
    Send,
}
