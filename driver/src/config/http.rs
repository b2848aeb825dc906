//! What an HTTP request is: the resource a URL names (shared with a WebSocket upgrade), the
//! method, the body (none, fixed, or of a size drawn per request) and the statuses it accepts;
//! and the parsers of the flags that say them.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{defaults, Payload};

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
    #[serde(default = "defaults::max_response_bytes")]
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
    fn headers_and_methods_parse() {
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
    }
}
