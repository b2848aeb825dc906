//! What each request is: one value per protocol, each holding only what that protocol reads.
//!
//! A nines request is an op with its own argument (an echo has a payload, a Work request a CPU
//! time, a Stats request nothing); an HTTP request a method, path, headers, body and the
//! statuses it accepts; a WebSocket request the upgrade and the messages; a Redis request a
//! command template. Which command-line flags fit which protocol is decided where the flags are
//! read (the binary's edge): here a value cannot hold a flag its protocol ignores. A mix of
//! requests is a weighted list of these values ([`super::Requests`]); a payload size may be
//! drawn per request ([`Payload`]).

use base64::Engine as _;
use nines_protocol::{Op, HEADER_LEN};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{defaults, Payload, Protocol};

/// One request, per protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "snake_case")]
pub enum RequestSpec {
    /// A nines frame to nines-server.
    Nines(NinesOp),
    /// Plain bytes to any byte-echo server, expected back.
    Echo {
        /// Bytes per request (at least 1: an empty request gets no reply).
        payload_bytes: Payload,
    },
    /// An HTTP/1.1 request.
    Http(HttpRequest),
    /// WebSocket messages to an echo service, after an upgrade.
    Ws(WsRequest),
    /// A Redis command.
    Redis(RedisRequest),
}

/// A nines op with what it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum NinesOp {
    /// The payload back.
    Echo {
        /// Request payload bytes.
        payload_bytes: Payload,
    },
    /// CPU work on the server.
    Work {
        /// CPU microseconds asked for.
        work_us: u32,
    },
    /// A reply of this many bytes.
    Source {
        /// Reply payload bytes asked for.
        reply_bytes: Payload,
    },
    /// The server's counters.
    Stats,
}

impl NinesOp {
    /// The op on the wire.
    pub fn op(&self) -> Op {
        match self {
            NinesOp::Echo { .. } => Op::Echo,
            NinesOp::Work { .. } => Op::Work,
            NinesOp::Source { .. } => Op::Source,
            NinesOp::Stats => Op::Stats,
        }
    }
}

/// The resource a URL names, with the extra headers sent to it: what an HTTP request and a
/// WebSocket upgrade share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Path and query, from the target URL.
    pub path: String,
    /// `Host` header, from the target URL (empty: `localhost`, for an embedded server).
    pub host: String,
    /// Extra header lines (`Name: value`), sent as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
}

impl Default for Resource {
    fn default() -> Self {
        Resource {
            path: "/".to_string(),
            host: String::new(),
            headers: Vec::new(),
        }
    }
}

impl Resource {
    /// The request line, `Host` and the extra headers, each ending in CRLF (the blank line
    /// that ends the head is the caller's, after any headers of its own).
    pub fn head(&self, method: &str) -> String {
        // HTTP/1.1 requires a Host; an embedded server has no name of its own. A Host given
        // with -H (a virtual host behind this address) is sent instead of the URL's.
        let host = if self.host.is_empty() {
            "localhost"
        } else {
            &self.host
        };
        let given_host = self.headers.iter().any(|h| {
            h.split(':')
                .next()
                .is_some_and(|n| n.eq_ignore_ascii_case("host"))
        });
        let mut r = format!("{method} {} HTTP/1.1\r\n", self.path);
        if !given_host {
            r.push_str(&format!("Host: {host}\r\n"));
        }
        for h in &self.headers {
            r.push_str(h);
            r.push_str("\r\n");
        }
        r
    }
}

/// An HTTP/1.1 request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// Request method.
    pub method: String,
    /// Where it goes.
    #[serde(flatten)]
    pub resource: Resource,
    /// Request body (sent with a Content-Length).
    #[serde(flatten)]
    pub body: Body,
    /// Status codes counted as answers besides 2xx (`--accept`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept: Vec<u16>,
    /// Largest response taken (`--max-response`); past it, `response_too_large`.
    #[serde(default = "max_response_bytes")]
    pub max_response_bytes: u64,
}

impl Default for HttpRequest {
    fn default() -> Self {
        HttpRequest {
            method: defaults::HTTP_METHOD.to_string(),
            resource: Resource::default(),
            body: Body::None,
            accept: Vec::new(),
            max_response_bytes: defaults::MAX_RESPONSE_BYTES,
        }
    }
}

/// What an HTTP request sends as its body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "BodyRepr", into = "BodyRepr")]
pub enum Body {
    /// None (a POST, PUT or PATCH still says `Content-Length: 0`).
    #[default]
    None,
    /// These bytes (`--body FILE`, `@FILE` in a request line).
    Bytes(Vec<u8>),
    /// Bytes of a size drawn per request (`--payload` on a POST, PUT or PATCH).
    Sized(Payload),
}

/// How [`Body`] is written in a request value: `body_base64` as before, or `body_bytes`.
#[derive(Serialize, Deserialize)]
struct BodyRepr {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "to_base64",
        deserialize_with = "from_base64"
    )]
    body_base64: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_bytes: Option<Payload>,
}

impl From<BodyRepr> for Body {
    fn from(r: BodyRepr) -> Body {
        match (r.body_bytes, r.body_base64.is_empty()) {
            (Some(p), _) => Body::Sized(p),
            (None, false) => Body::Bytes(r.body_base64),
            (None, true) => Body::None,
        }
    }
}

impl From<Body> for BodyRepr {
    fn from(b: Body) -> BodyRepr {
        let (body_base64, body_bytes) = match b {
            Body::None => (Vec::new(), None),
            Body::Bytes(v) => (v, None),
            Body::Sized(p) => (Vec::new(), Some(p)),
        };
        BodyRepr {
            body_base64,
            body_bytes,
        }
    }
}

/// Whether a method's request says how long its body is even when it sends none.
pub fn method_sends_body(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH")
}

impl HttpRequest {
    /// Whether a reply with this status answers the request: 2xx, or listed in `--accept`.
    pub fn accepts(&self, status: u16) -> bool {
        status_accepted(&self.accept, status)
    }

    /// The request's bytes, with a body of `size` bytes where its size is drawn
    /// ([`Body::Sized`]: filled with `x`).
    pub fn render(&self, size: usize) -> Vec<u8> {
        let mut bytes = self.render_head();
        match &self.body {
            Body::Sized(_) => bytes.resize(bytes.len() - 2, 0),
            Body::None | Body::Bytes(_) => return bytes,
        }
        bytes.extend_from_slice(format!("Content-Length: {size}\r\n\r\n").as_bytes());
        bytes.resize(bytes.len() + size, b'x');
        bytes
    }

    /// The request's bytes when its body is fixed; when it is drawn, the head up to the blank
    /// line, without its Content-Length.
    pub fn render_head(&self) -> Vec<u8> {
        let mut r = self.resource.head(&self.method);
        let fixed = match &self.body {
            Body::Bytes(b) => Some(&b[..]),
            Body::None => Some(&[][..]),
            Body::Sized(_) => None,
        };
        if let Some(b) = fixed.filter(|b| !b.is_empty() || method_sends_body(&self.method)) {
            r.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        r.push_str("\r\n");
        let mut bytes = r.into_bytes();
        if let Body::Bytes(b) = &self.body {
            bytes.extend_from_slice(b);
        }
        bytes
    }
}

/// WebSocket messages sent after an upgrade, each expected back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsRequest {
    /// Where the upgrade goes, and the extra headers it carries.
    #[serde(flatten)]
    pub resource: Resource,
    /// Message type.
    pub message: WsMessage,
    /// Bytes per message.
    pub payload_bytes: Payload,
    /// Largest response taken (`--max-response`); past it, `response_too_large`.
    #[serde(default = "max_response_bytes")]
    pub max_response_bytes: u64,
}

impl Default for WsRequest {
    fn default() -> Self {
        WsRequest {
            resource: Resource::default(),
            message: WsMessage::default(),
            payload_bytes: Payload::default(),
            max_response_bytes: defaults::MAX_RESPONSE_BYTES,
        }
    }
}

/// The type of WebSocket message sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WsMessage {
    /// Binary frames: the payload pattern (ids in the first bytes).
    #[default]
    Binary,
    /// Text frames: ASCII (the id in hex, then letters).
    Text,
}

nines_common::value_enum_display!(WsMessage);

/// A Redis command template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedisRequest {
    /// The command, arguments separated by spaces (double quotes keep spaces in one); in each
    /// argument `__rand__` becomes a key number below `keyspace` and `__data__` becomes
    /// `data_bytes` bytes of data. Checked by [`split_command`] before a run.
    pub command: String,
    /// Distinct key numbers `__rand__` takes (at least 1).
    pub keyspace: u64,
    /// Bytes `__data__` stands for.
    pub data_bytes: Payload,
    /// Largest response taken (`--max-response`); past it, `response_too_large`.
    #[serde(default = "max_response_bytes")]
    pub max_response_bytes: u64,
}

impl Default for RedisRequest {
    fn default() -> Self {
        RedisRequest {
            command: defaults::REDIS_COMMAND.to_string(),
            keyspace: defaults::KEYSPACE,
            data_bytes: Payload::default(),
            max_response_bytes: defaults::MAX_RESPONSE_BYTES,
        }
    }
}

impl Default for RequestSpec {
    /// `nines bench`'s default: 64-byte nines echo.
    fn default() -> Self {
        RequestSpec::Nines(NinesOp::Echo {
            payload_bytes: Payload::default(),
        })
    }
}

impl RequestSpec {
    /// The protocol it is spoken in.
    pub fn protocol(&self) -> Protocol {
        match self {
            RequestSpec::Nines(_) => Protocol::Nines,
            RequestSpec::Echo { .. } => Protocol::Echo,
            RequestSpec::Http(_) => Protocol::Http,
            RequestSpec::Ws(_) => Protocol::Ws,
            RequestSpec::Redis(_) => Protocol::Redis,
        }
    }

    /// What each request asks for, in words (`nines echo 64 B`, `nines work 10 µs`, `64 B echo`).
    pub fn describe(&self) -> String {
        match self {
            RequestSpec::Nines(NinesOp::Echo { payload_bytes }) => {
                format!("nines echo {}", payload_bytes.describe())
            }
            RequestSpec::Nines(NinesOp::Work { work_us }) => format!("nines work {work_us} µs"),
            RequestSpec::Nines(NinesOp::Source { reply_bytes }) => {
                format!("nines source {}", reply_bytes.describe())
            }
            RequestSpec::Nines(NinesOp::Stats) => "nines stats".to_string(),
            RequestSpec::Echo { payload_bytes } => format!("{} echo", payload_bytes.describe()),
            RequestSpec::Http(h) => match &h.body {
                Body::Sized(p) => format!(
                    "HTTP {} {} ({} body)",
                    h.method,
                    h.resource.path,
                    p.describe()
                ),
                _ => format!("HTTP {} {}", h.method, h.resource.path),
            },
            RequestSpec::Ws(w) => format!("WebSocket {} {}", w.message, w.payload_bytes.describe()),
            RequestSpec::Redis(r) => match self.payload() {
                Some(p) if p.fixed().is_none() => {
                    format!("Redis {} (__data__ {})", r.command, p.describe())
                }
                _ => format!("Redis {}", r.command),
            },
        }
    }

    /// How the target is named in a report: `http://ADDR/path`, `ws://ADDR/path`,
    /// `redis://ADDR`, or the address alone for nines and echo.
    pub fn target_name(&self, addr: std::net::SocketAddr) -> String {
        match self {
            RequestSpec::Http(h) => format!("http://{addr}{}", h.resource.path),
            RequestSpec::Ws(w) => format!("ws://{addr}{}", w.resource.path),
            RequestSpec::Redis(_) => format!("redis://{addr}"),
            RequestSpec::Nines(_) | RequestSpec::Echo { .. } => addr.to_string(),
        }
    }

    /// The largest response taken, for the protocols whose responses are streamed (HTTP,
    /// WebSocket, Redis); nines and echo replies are held whole, bounded by their frame.
    pub fn max_response_bytes(&self) -> Option<u64> {
        match self {
            RequestSpec::Http(h) => Some(h.max_response_bytes),
            RequestSpec::Ws(w) => Some(w.max_response_bytes),
            RequestSpec::Redis(r) => Some(r.max_response_bytes),
            RequestSpec::Nines(_) | RequestSpec::Echo { .. } => None,
        }
    }

    /// Bytes one request takes on the wire (at most, for templates): what bounds the bytes in
    /// flight.
    pub fn wire_bytes(&self) -> u64 {
        let most = self.payload().map_or(0, Payload::max);
        let n = match self {
            RequestSpec::Nines(NinesOp::Echo { .. }) => most + HEADER_LEN,
            RequestSpec::Nines(_) => HEADER_LEN,
            RequestSpec::Echo { .. } => most,
            RequestSpec::Http(h) => h.render(most).len(),
            // The frame header is at most 14 bytes.
            RequestSpec::Ws(_) => most + 14,
            // Each argument: `$LEN\r\n...\r\n`; `__data__` may stand for many bytes.
            RequestSpec::Redis(r) => {
                r.command.len() + 32 * (r.command.split(' ').count() + 1) + r.data_bytes.max()
            }
        };
        n as u64
    }

    /// The payload sizes a request of this kind sends, where it sends one whose size is its
    /// own: a nines echo's payload (a source's reply), an echo, a WebSocket message, a Redis
    /// command's `__data__`, an HTTP body whose size is drawn.
    pub fn payload(&self) -> Option<&Payload> {
        match self {
            RequestSpec::Nines(NinesOp::Echo { payload_bytes }) => Some(payload_bytes),
            RequestSpec::Nines(NinesOp::Source { reply_bytes }) => Some(reply_bytes),
            RequestSpec::Nines(_) => None,
            RequestSpec::Echo { payload_bytes } => Some(payload_bytes),
            RequestSpec::Http(h) => match &h.body {
                Body::Sized(p) => Some(p),
                Body::None | Body::Bytes(_) => None,
            },
            RequestSpec::Ws(w) => Some(&w.payload_bytes),
            RequestSpec::Redis(r) => r.command.contains("__data__").then_some(&r.data_bytes),
        }
    }
}

/// A report from before `--max-response` reads as its default.
fn max_response_bytes() -> u64 {
    defaults::MAX_RESPONSE_BYTES
}

/// Whether an HTTP status answers a request that accepts `accept` besides 2xx.
pub fn status_accepted(accept: &[u16], status: u16) -> bool {
    (200..300).contains(&status) || accept.contains(&status)
}

fn to_base64<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
}

fn from_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(serde::de::Error::custom)
}

/// Parses `--accept`: status codes and classes, comma-separated (`404,3xx`).
pub fn parse_accept(s: &str) -> Result<Vec<u16>, String> {
    let mut codes = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let lower = part.to_ascii_lowercase();
        if let Some(class) = lower.strip_suffix("xx") {
            match class.parse::<u16>() {
                Ok(c @ 1..=5) if class.len() == 1 => codes.extend(c * 100..c * 100 + 100),
                _ => return Err(format!("`{part}` is not a status class (1xx .. 5xx)")),
            }
        } else {
            match part.parse::<u16>() {
                Ok(c @ 100..=599) => codes.push(c),
                _ => return Err(format!("`{part}` is not an HTTP status code (100 .. 599)")),
            }
        }
    }
    if codes.is_empty() {
        return Err("expected status codes, e.g. 404,3xx".to_string());
    }
    Ok(codes)
}

/// Parses a `--header` value: `Name: value`. Headers that frame the request are nines' own
/// (it sends `--body` with its Content-Length), so they are refused.
pub fn parse_header(s: &str) -> Result<String, String> {
    let name = s.split(':').next().unwrap_or_default().trim();
    if ["content-length", "transfer-encoding"]
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f))
    {
        return Err(format!(
            "`{s}`: nines frames each request itself (a --body is sent with its Content-Length)"
        ));
    }
    match s.split_once(':') {
        Some((name, value))
            if !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
                && !value.contains(['\r', '\n']) =>
        {
            Ok(format!("{name}: {}", value.trim()))
        }
        _ => Err(format!("`{s}` is not a header (expected `Name: value`)")),
    }
}

/// Parses `--method`: an upper-case token (GET, POST, ...).
pub fn parse_method(m: &str) -> Result<String, String> {
    if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase() || b == b'-') {
        return Err(format!("`{m}` is not a method (GET, POST, ...)"));
    }
    Ok(m.to_string())
}

/// Splits a command line into arguments: spaces separate, double quotes group, `\"` and `\\`
/// escape inside quotes.
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_arg = false;
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_arg = true;
            }
            '\\' if quoted => match chars.next() {
                Some(e @ ('"' | '\\')) => cur.push(e),
                Some(e) => {
                    cur.push('\\');
                    cur.push(e);
                }
                None => cur.push('\\'),
            },
            c if c.is_whitespace() && !quoted => {
                if in_arg {
                    args.push(std::mem::take(&mut cur));
                    in_arg = false;
                }
            }
            c => {
                cur.push(c);
                in_arg = true;
            }
        }
    }
    if quoted {
        return Err(format!("`{s}` has an unclosed double quote"));
    }
    if in_arg {
        args.push(cur);
    }
    if args.is_empty() {
        return Err("the command is empty (e.g. --command \"GET key:__rand__\")".to_string());
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lists_parse() {
        assert_eq!(parse_accept("404").unwrap(), vec![404]);
        assert_eq!(parse_accept("3xx,418").unwrap().len(), 101);
        assert!(parse_accept("6xx").is_err());
        assert!(parse_accept("abc").is_err());
        assert!(parse_accept("").is_err());
        let h = HttpRequest {
            accept: vec![404],
            ..HttpRequest::default()
        };
        assert!(h.accepts(204) && h.accepts(404) && !h.accepts(500));
    }

    #[test]
    fn headers_methods_and_commands_parse() {
        assert_eq!(parse_header("X-A:  b ").unwrap(), "X-A: b");
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("A: b\r\nEvil: 1").is_err());
        assert!(parse_header("Content-Length: 5").is_err());
        assert!(parse_header("transfer-encoding: chunked").is_err());
        let vhost = Resource {
            host: "127.0.0.1:80".into(),
            headers: vec!["host: example.com".into()],
            ..Resource::default()
        };
        assert_eq!(vhost.head("GET"), "GET / HTTP/1.1\r\nhost: example.com\r\n");
        assert_eq!(parse_method("POST").unwrap(), "POST");
        assert!(parse_method("get").is_err() && parse_method("").is_err());
        assert_eq!(
            split_command(r#"SET "a key" "say \"hi\"" x"#).unwrap(),
            vec!["SET", "a key", "say \"hi\"", "x"]
        );
        assert_eq!(split_command("  PING ").unwrap(), vec!["PING"]);
        assert_eq!(split_command(r#"SET k """#).unwrap(), vec!["SET", "k", ""]);
        assert!(split_command("\"open").is_err());
        assert!(split_command("   ").is_err());
    }

    #[test]
    fn requests_render_once_and_describe_themselves() {
        let h = HttpRequest {
            method: "POST".into(),
            resource: Resource {
                host: "example:80".into(),
                headers: vec!["X-A: 1".into()],
                ..Resource::default()
            },
            body: Body::Bytes(b"hi".to_vec()),
            ..HttpRequest::default()
        };
        assert_eq!(
            h.render(0),
            b"POST / HTTP/1.1\r\nHost: example:80\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nhi"
        );
        let cases = [
            (RequestSpec::default(), "nines echo 64 B", Protocol::Nines),
            (
                RequestSpec::Nines(NinesOp::Work { work_us: 10 }),
                "nines work 10 µs",
                Protocol::Nines,
            ),
            (
                RequestSpec::Echo {
                    payload_bytes: 8.into(),
                },
                "8 B echo",
                Protocol::Echo,
            ),
            (RequestSpec::Http(h), "HTTP POST /", Protocol::Http),
            (
                RequestSpec::Ws(WsRequest::default()),
                "WebSocket binary 64 B",
                Protocol::Ws,
            ),
            (
                RequestSpec::Redis(RedisRequest::default()),
                "Redis PING",
                Protocol::Redis,
            ),
        ];
        for (spec, words, protocol) in cases {
            assert_eq!(
                (spec.describe().as_str(), spec.protocol()),
                (words, protocol)
            );
            let json = serde_json::to_value(&spec).unwrap();
            assert_eq!(json["protocol"], protocol.to_string());
            assert_eq!(serde_json::from_value::<RequestSpec>(json).unwrap(), spec);
        }
    }

    #[test]
    fn bodies_round_trip_as_base64() {
        let spec = RequestSpec::Http(HttpRequest {
            body: Body::Bytes(vec![0, 255, 10]),
            ..HttpRequest::default()
        });
        let v = serde_json::to_value(&spec).unwrap();
        assert_eq!(v["body_base64"], "AP8K");
        assert_eq!(v["path"], "/");
        assert_eq!(serde_json::from_value::<RequestSpec>(v).unwrap(), spec);
    }
}
