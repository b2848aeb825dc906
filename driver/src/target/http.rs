//! HTTP/1.1 as a client: keep-alive requests, responses parsed incrementally (httparse for the
//! status line and headers; Content-Length and chunked bodies here), in order.
//!
//! Only a response's head is ever held whole (64 KiB at most, as nginx's and most servers'
//! limits): its body is counted down as it arrives, chunk sizes are walked across reads, so a
//! download of any size costs the driver a head's worth of buffer. The head is parsed once and
//! kept while the body arrives. A body is counted against `--max-response` as it is taken
//! across reads: a Content-Length past it is refused from the head, a chunked body once it
//! passes it (`response_too_large`), rather than left to the timeout. A status outside 2xx and
//! `--accept` is a rejected request; `Connection: close` (or an HTTP/1.0 reply without
//! keep-alive) makes the driver reconnect after the reply.

use super::counted::Counted;
use super::{Codec, CodecError, Decoded, ReplyKind, Response, Sent, Verdict};
use crate::config::{Body as SentBody, HttpRequest, RequestSpec};

/// Most headers a response may have.
const MAX_HEADERS: usize = 64;
/// Longest response head (and trailer section) accepted: the largest unit held whole.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Longest chunk-size line accepted (size and extensions): httparse reads extensions of any
/// length, so the bound is ours.
const MAX_CHUNK_LINE_BYTES: usize = 1024;

/// Where the body of the response being read stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// This many bytes still to come.
    Length(u64),
    /// Chunked, at a chunk-size line.
    ChunkSize,
    /// Chunked, inside a chunk's data (and its CRLF).
    ChunkData(Counted),
    /// Chunked, after the last chunk: trailer lines up to an empty one.
    Trailers,
}

impl Body {
    /// Bytes it has announced and not yet sent (the rest of a Content-Length, of a chunk).
    fn announced_left(&self) -> u64 {
        match *self {
            Body::Length(left) => left,
            Body::ChunkData(c) => c.left(),
            Body::ChunkSize | Body::Trailers => 0,
        }
    }

    /// Takes what of the body is at the front of `buf`, walking chunks as far as they have
    /// come: how many bytes, and whether that completed the response.
    fn take(&mut self, buf: &[u8]) -> Result<(usize, bool), CodecError> {
        let mut at = 0;
        loop {
            let rest = &buf[at..];
            match *self {
                Body::Length(left) => {
                    // A u64 that does not fit a usize is longer than any buffer.
                    let take = usize::try_from(left).map_or(rest.len(), |l| l.min(rest.len()));
                    at += take;
                    *self = Body::Length(left - take as u64);
                    return Ok((at, left == take as u64));
                }
                Body::ChunkSize => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((n, _))) if n > MAX_CHUNK_LINE_BYTES => {
                        return Err(chunk_line_too_long())
                    }
                    Ok(httparse::Status::Complete((n, size))) => {
                        at += n;
                        *self = if size == 0 {
                            Body::Trailers
                        } else {
                            Body::ChunkData(Counted::then_crlf(size))
                        };
                    }
                    Ok(httparse::Status::Partial) if rest.len() >= MAX_CHUNK_LINE_BYTES => {
                        return Err(chunk_line_too_long())
                    }
                    Ok(httparse::Status::Partial) => return Ok((at, false)),
                    Err(_) => {
                        return Err(CodecError::new(
                            "http_chunk_size",
                            "malformed chunk size line",
                        ))
                    }
                },
                Body::ChunkData(mut chunk) => {
                    at += chunk.take(rest).map_err(|_| {
                        CodecError::new("http_chunk", "chunk data not followed by CRLF")
                    })?;
                    if !chunk.done() {
                        *self = Body::ChunkData(chunk);
                        return Ok((at, false));
                    }
                    *self = Body::ChunkSize;
                }
                Body::Trailers => {
                    // Held whole, like the head: it must end within as many bytes.
                    let end = if rest.starts_with(b"\r\n") {
                        Some(2)
                    } else {
                        find(rest, b"\r\n\r\n").map(|i| i + 4)
                    };
                    match end {
                        Some(n) if n <= MAX_HEAD_BYTES => {
                            at += n;
                            return Ok((at, true));
                        }
                        None if rest.len() < MAX_HEAD_BYTES => return Ok((at, false)),
                        _ => {
                            return Err(CodecError::new(
                                "http_trailers_too_large",
                                format!(
                                    "a trailer section that does not end within \
                                     {MAX_HEAD_BYTES} bytes"
                                ),
                            ))
                        }
                    }
                }
            }
        }
    }
}

/// What the head of the response being read said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    status: u16,
    close: bool,
}

/// Codec for HTTP/1.1 servers.
#[derive(Debug)]
pub struct HttpCodec {
    /// Each line's request.
    lines: Vec<Line>,
    /// Statuses counted as answers besides 2xx.
    accept: Vec<u16>,
    /// The largest body taken (`--max-response`).
    max_body_bytes: u64,
    /// The response whose head is parsed and whose body is still arriving.
    reading: Option<(Head, Body)>,
    /// Body bytes of it taken in earlier calls (chunk framing included); 0 while a response is
    /// read in one call. Apart from `reading`, so a response read whole costs one test of it.
    body_taken: u64,
}

/// One line's request, rendered once.
#[derive(Debug)]
struct Line {
    /// The whole request; or, when its body's size is drawn, its head without the
    /// Content-Length and the blank line.
    bytes: Vec<u8>,
    /// Its body's size is drawn per request.
    sized: bool,
    /// A HEAD request: its response has no body whatever its head says.
    head_request: bool,
}

impl HttpCodec {
    /// A codec sending the requests of `lines` (HTTP requests, sharing the first's accepted
    /// statuses and bound).
    pub fn new(lines: &[&RequestSpec]) -> HttpCodec {
        let http: Vec<&HttpRequest> = lines
            .iter()
            .filter_map(|l| match l {
                RequestSpec::Http(h) => Some(h),
                _ => None,
            })
            .collect();
        let first = http.first().copied().cloned().unwrap_or_default();
        HttpCodec {
            lines: http
                .iter()
                .map(|h| {
                    let sized = matches!(h.body, SentBody::Sized(_));
                    let mut bytes = h.render_head();
                    if sized {
                        bytes.truncate(bytes.len() - 2);
                    }
                    Line {
                        bytes,
                        sized,
                        head_request: h.method.eq_ignore_ascii_case("HEAD"),
                    }
                })
                .collect(),
            accept: first.accept,
            max_body_bytes: first.max_response_bytes,
            reading: None,
            body_taken: 0,
        }
    }

    fn line(&self, req: &Sent) -> &Line {
        let i = usize::from(req.pick.line);
        &self.lines[i.min(self.lines.len() - 1)]
    }

    fn accepts(&self, status: u16) -> bool {
        crate::config::status_accepted(&self.accept, status)
    }

    /// Parses the status line and headers at the front of `buf`: the head's length, what it
    /// says, and how its body is delimited.
    fn parse_head(
        &self,
        buf: &[u8],
        head_request: bool,
    ) -> Result<Option<(usize, Head, Body)>, CodecError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let too_large = || {
            CodecError::new(
                "http_head_too_large",
                format!("a response head that does not end within {MAX_HEAD_BYTES} bytes"),
            )
        };
        // The head must end within its first MAX_HEAD_BYTES, however the bytes were cut.
        let head_len = match resp.parse(buf) {
            Ok(httparse::Status::Complete(n)) if n > MAX_HEAD_BYTES => return Err(too_large()),
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => return Err(too_large()),
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(head_error(e)),
        };
        let status = resp.code.unwrap_or(0);
        let mut length = None;
        let mut chunked = false;
        let mut close = resp.version == Some(0);
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let n = parse_length(h.value)?;
                if length.is_some_and(|l| l != n) {
                    return Err(CodecError::new(
                        "http_content_length",
                        "two different Content-Length headers",
                    ));
                }
                length = Some(n);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                let last = h.value.rsplit(|&b| b == b',').next().unwrap_or(&[]);
                if !last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                    return Err(CodecError::new(
                        "http_transfer_encoding",
                        "a Transfer-Encoding that does not end in chunked",
                    ));
                }
                chunked = true;
            } else if h.name.eq_ignore_ascii_case("connection") {
                for token in h.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        close = false;
                    }
                }
            }
        }
        let no_body =
            head_request || (100..200).contains(&status) || status == 204 || status == 304;
        let body =
            match (no_body, chunked, length) {
                (true, _, _) => Body::Length(0),
                (false, true, _) => Body::ChunkSize,
                (false, false, Some(n)) => Body::Length(n),
                (false, false, None) => return Err(CodecError::new(
                    "http_no_length",
                    "a response body delimited only by the connection closing: the driver needs \
                     Content-Length or chunked encoding to keep the connection",
                )),
            };
        Ok(Some((head_len, Head { status, close }, body)))
    }
}

impl Codec for HttpCodec {
    fn replies_carry_ids(&self) -> bool {
        false
    }

    fn max_buffered(&self) -> usize {
        MAX_HEAD_BYTES
    }

    fn start(&mut self, _out: &mut Vec<u8>) -> bool {
        // A new connection starts at a response's head, whatever the last one was doing.
        self.reading = None;
        self.body_taken = 0;
        false
    }

    fn encode_request(&mut self, req: &Sent, out: &mut Vec<u8>) {
        let line = self.line(req);
        out.extend_from_slice(&line.bytes);
        if line.sized {
            let n = req.pick.size as usize;
            // Writing to a Vec cannot fail.
            let _ = std::io::Write::write_fmt(out, format_args!("Content-Length: {n}\r\n\r\n"));
            out.resize(out.len() + n, b'x');
        }
    }

    fn decode(
        &mut self,
        buf: &[u8],
        oldest: Option<Sent>,
        _out: &mut Vec<u8>,
    ) -> Result<Option<Decoded>, CodecError> {
        let (head, mut body, mut at) = match self.reading {
            Some((head, body)) => (head, body, 0),
            None => {
                let head_request = oldest.is_some_and(|o| self.line(&o).head_request);
                let Some((head_len, head, body)) = self.parse_head(buf, head_request)? else {
                    return Ok(None);
                };
                if (100..200).contains(&head.status) {
                    // An interim response (100 Continue, 103 Early Hints): the real one follows.
                    return Ok(Some(Decoded::Skip(head_len)));
                }
                (head, body, head_len)
            }
        };
        let (used, done) = body.take(&buf[at..])?;
        at += used;
        if !done || self.body_taken > 0 {
            // Taken across reads, so counted against the bound: a body that completes in the
            // read that began it is smaller than any bound (validation's MIN_RESPONSE_BYTES),
            // and costs nothing here.
            self.body_taken += used as u64;
            let at_least = self.body_taken.saturating_add(body.announced_left());
            if at_least > self.max_body_bytes {
                return Err(CodecError::too_large(
                    format_args!("an HTTP body of {at_least} bytes or more"),
                    self.max_body_bytes,
                ));
            }
            if !done {
                self.reading = Some((head, body));
                return Ok((at > 0).then_some(Decoded::Partial(at)));
            }
            self.body_taken = 0;
        }
        self.reading = None;
        let verdict = if self.accepts(head.status) {
            Verdict::Ok
        } else {
            Verdict::Rejected
        };
        Ok(Some(Decoded::Reply(Response {
            consumed: at,
            id: oldest.map_or(u64::MAX, |o| o.id),
            verdict,
            kind: Some(ReplyKind::status(head.status)),
            close: head.close,
        })))
    }
}

fn head_error(e: httparse::Error) -> CodecError {
    let kind = match e {
        httparse::Error::Status | httparse::Error::Version => "http_status_line",
        httparse::Error::TooManyHeaders => "http_too_many_headers",
        _ => "http_header",
    };
    CodecError::new(kind, format!("malformed response head: {e}"))
}

fn chunk_line_too_long() -> CodecError {
    CodecError::new(
        "http_chunk_line_too_long",
        format!("a chunk-size line that does not end within {MAX_CHUNK_LINE_BYTES} bytes"),
    )
}

/// A Content-Length value: any length (the body is counted down, never held); digits past
/// what a u64 holds are a length past any bound, not a malformed one.
fn parse_length(v: &[u8]) -> Result<u64, CodecError> {
    let bad = || {
        CodecError::new(
            "http_content_length",
            "a Content-Length that is not a length",
        )
    };
    let s = std::str::from_utf8(v).map_err(|_| bad())?.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    Ok(s.parse::<u64>().unwrap_or(u64::MAX))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests;
