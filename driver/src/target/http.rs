//! HTTP/1.1 as a client: keep-alive requests, responses parsed incrementally (httparse for the
//! status line and headers; Content-Length and chunked bodies here), in order.
//!
//! A response's head is parsed once and kept while its body arrives, and a chunked body is
//! scanned once, chunk by chunk, however many reads it takes. A status outside 2xx and
//! `--accept` is a rejected request; `Connection: close` (or an HTTP/1.0 reply without
//! keep-alive) makes the driver reconnect after the reply.

use super::{Codec, CodecError, Decoded, ReplyKind, Response, Verdict};
use crate::config::HttpRequest;

/// Most headers a response may have.
const MAX_HEADERS: usize = 64;
/// Longest response head accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest chunk or Content-Length accepted (a misbehaving length must not grow the read
/// buffer without bound).
const MAX_BODY_BYTES: u64 = 1 << 30;

/// How the body of the response being read ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// After this many bytes.
    Length(usize),
    /// Chunked: the next chunk-size line starts this far into the response.
    Chunked { next: usize },
}

/// A response whose head is parsed and whose body is still arriving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    status: u16,
    close: bool,
    body: Body,
}

/// Codec for HTTP/1.1 servers.
#[derive(Debug)]
pub struct HttpCodec {
    request: Vec<u8>,
    head_request: bool,
    /// Statuses counted as answers besides 2xx.
    accept: Vec<u16>,
    head: Option<Head>,
}

impl HttpCodec {
    /// A codec sending `request`.
    pub fn new(request: &HttpRequest) -> HttpCodec {
        HttpCodec {
            request: request.render(),
            head_request: request.method.eq_ignore_ascii_case("HEAD"),
            accept: request.accept.clone(),
            head: None,
        }
    }

    fn accepts(&self, status: u16) -> bool {
        crate::config::status_accepted(&self.accept, status)
    }

    /// Parses the status line and headers at the front of `buf`.
    fn parse_head(&self, buf: &[u8]) -> Result<Option<(usize, Head)>, CodecError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
                return Err(CodecError::new(
                    "http_head_too_large",
                    format!("response head over {MAX_HEAD_BYTES} bytes"),
                ))
            }
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
            self.head_request || (100..200).contains(&status) || status == 204 || status == 304;
        let body =
            match (no_body, chunked, length) {
                (true, _, _) => Body::Length(0),
                (false, true, _) => Body::Chunked { next: head_len },
                (false, false, Some(n)) => Body::Length(n),
                (false, false, None) => return Err(CodecError::new(
                    "http_no_length",
                    "a response body delimited only by the connection closing: the driver needs \
                     Content-Length or chunked encoding to keep the connection",
                )),
            };
        Ok(Some((
            head_len,
            Head {
                status,
                close,
                body,
            },
        )))
    }
}

impl Codec for HttpCodec {
    fn replies_carry_ids(&self) -> bool {
        false
    }

    fn encode_request(&mut self, _id: u64, _intended_ns: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.request);
    }

    fn decode(
        &mut self,
        buf: &[u8],
        oldest: Option<u64>,
        _out: &mut Vec<u8>,
    ) -> Result<Option<Decoded>, CodecError> {
        let head = match self.head {
            Some(h) => h,
            None => {
                let Some((head_len, h)) = self.parse_head(buf)? else {
                    return Ok(None);
                };
                if (100..200).contains(&h.status) {
                    // An interim response (100 Continue, 103 Early Hints): the real one follows.
                    return Ok(Some(Decoded::Skip(head_len)));
                }
                let h = match h.body {
                    Body::Length(n) => Head {
                        body: Body::Length(head_len + n),
                        ..h
                    },
                    Body::Chunked { .. } => h,
                };
                self.head = Some(h);
                h
            }
        };
        let end = match head.body {
            Body::Length(total) => (buf.len() >= total).then_some(total),
            Body::Chunked { next } => {
                let (scanned, end) = scan_chunks(buf, next)?;
                self.head = Some(Head {
                    body: Body::Chunked { next: scanned },
                    ..head
                });
                end
            }
        };
        let Some(consumed) = end else {
            return Ok(None);
        };
        self.head = None;
        let verdict = if self.accepts(head.status) {
            Verdict::Ok
        } else {
            Verdict::Rejected
        };
        Ok(Some(Decoded::Reply(Response {
            consumed,
            id: oldest.unwrap_or(u64::MAX),
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

fn parse_length(v: &[u8]) -> Result<usize, CodecError> {
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
    match s.parse::<u64>() {
        Ok(n) if n <= MAX_BODY_BYTES => Ok(n as usize),
        _ => Err(CodecError::new(
            "http_content_length",
            format!("a Content-Length over {MAX_BODY_BYTES} bytes"),
        )),
    }
}

/// Walks the chunks of a chunked body from `next` (where a chunk-size line starts): returns how
/// far it got (the next chunk-size line still to read) and, once the last chunk and trailers
/// are in, where the response ends.
fn scan_chunks(buf: &[u8], mut next: usize) -> Result<(usize, Option<usize>), CodecError> {
    loop {
        let rest = &buf[next.min(buf.len())..];
        let (size_len, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete(x)) => x,
            Ok(httparse::Status::Partial) => return Ok((next, None)),
            Err(_) => {
                return Err(CodecError::new(
                    "http_chunk_size",
                    "malformed chunk size line",
                ))
            }
        };
        if size > MAX_BODY_BYTES {
            return Err(CodecError::new(
                "http_chunk_size",
                format!("a chunk over {MAX_BODY_BYTES} bytes"),
            ));
        }
        if size == 0 {
            // Trailers, if any, then an empty line.
            let after = &rest[size_len..];
            if after.starts_with(b"\r\n") {
                return Ok((next, Some(next + size_len + 2)));
            }
            return Ok(match find(after, b"\r\n\r\n") {
                Some(at) => (next, Some(next + size_len + at + 4)),
                None => (next, None),
            });
        }
        let data_end = size_len + size as usize;
        if rest.len() < data_end + 2 {
            return Ok((next, None));
        }
        if &rest[data_end..data_end + 2] != b"\r\n" {
            return Err(CodecError::new(
                "http_chunk",
                "chunk data not followed by CRLF",
            ));
        }
        next += data_end + 2;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::Resource;

    fn codec() -> HttpCodec {
        HttpCodec::new(&HttpRequest {
            resource: Resource {
                host: "h".into(),
                ..Resource::default()
            },
            accept: vec![404],
            ..HttpRequest::default()
        })
    }

    fn reply(c: &mut HttpCodec, bytes: &[u8]) -> Result<Option<Decoded>, CodecError> {
        c.decode(bytes, Some(1), &mut Vec::new())
    }

    #[test]
    fn content_length_responses_in_pieces_and_pipelined() {
        let mut c = codec();
        let one = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let mut two = one.to_vec();
        two.extend_from_slice(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        for cut in 0..one.len() {
            assert_eq!(reply(&mut c, &one[..cut]), Ok(None), "cut at {cut}");
        }
        let Some(Decoded::Reply(r)) = reply(&mut c, &two).unwrap() else {
            panic!("no reply");
        };
        assert_eq!(
            (r.consumed, r.verdict, r.close),
            (one.len(), Verdict::Ok, false)
        );
        assert_eq!(r.kind, Some(ReplyKind::status(200)));
        let Some(Decoded::Reply(r)) = reply(&mut c, &two[one.len()..]).unwrap() else {
            panic!("no reply");
        };
        assert_eq!((r.verdict, r.kind.unwrap().as_str()), (Verdict::Ok, "404"));
        let bad = b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let Some(Decoded::Reply(r)) = reply(&mut c, bad).unwrap() else {
            panic!("no reply");
        };
        assert_eq!((r.verdict, r.close), (Verdict::Rejected, true));
    }

    #[test]
    fn chunked_bodies_and_interim_responses() {
        let mut c = codec();
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nT: 1\r\n\r\n";
        assert_eq!(reply(&mut c, wire), Ok(Some(Decoded::Skip(25))));
        let body = &wire[25..];
        for cut in 0..body.len() {
            assert_eq!(reply(&mut c, &body[..cut]), Ok(None), "cut at {cut}");
        }
        let Some(Decoded::Reply(r)) = reply(&mut c, body).unwrap() else {
            panic!("no reply");
        };
        assert_eq!(r.consumed, body.len());
    }

    #[test]
    fn malformed_responses_are_errors_by_kind() {
        let kind = |b: &[u8]| reply(&mut codec(), b).unwrap_err().kind;
        assert_eq!(kind(b"HTTP/1.1 2x0 OK\r\n\r\n"), "http_status_line");
        assert_eq!(kind(b"SSH-2.0-OpenSSH\r\n\r\n"), "http_status_line");
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            "http_content_length"
        );
        assert_eq!(kind(b"HTTP/1.1 200 OK\r\n\r\n"), "http_no_length");
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            "http_chunk_size"
        );
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n"),
            "http_chunk"
        );
    }
}
