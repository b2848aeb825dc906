//! `--protocol http`: a keep-alive HTTP/1.1 responder, so nines-server can stand beside nginx
//! under the same load. Every request gets the same small `200 OK` (HEAD without its body);
//! requests are parsed with httparse, pipelined requests are answered in order, and a request
//! that says `Connection: close` (or an HTTP/1.0 one without keep-alive) gets its reply and then
//! the connection is closed. A request the server cannot parse gets `400` and a close; the
//! connection limits (read and idle timeouts, the reply budget) apply as to every protocol.

use std::cell::RefCell;
use std::time::SystemTime;

pub use crate::outcome::HttpError;
use crate::outcome::RequestError;
use crate::turn::{Allowance, Processed};

/// The body every request gets.
pub const BODY: &[u8] = b"Hello, World!";
/// Longest request head accepted (nginx's default large_client_header_buffers is 8 KiB).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most headers a request may have.
const MAX_HEADERS: usize = 64;
/// Room one reply needs at most.
pub const MAX_REPLY_BYTES: usize = 256;

/// The status line a refused request is answered with.
fn status(e: HttpError) -> &'static str {
    match e {
        HttpError::Malformed | HttpError::BadUpgrade => "400 Bad Request",
        HttpError::HeadTooLarge => "431 Request Header Fields Too Large",
        HttpError::Body => "413 Content Too Large",
    }
}

/// A parsed request head: what answering it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    /// Bytes of head and body.
    pub len: usize,
    /// Whether the reply has no body (HEAD).
    pub head_only: bool,
    /// Whether the connection closes after the reply.
    pub close: bool,
}

/// Parses the request at the front of `input`: `Ok(None)` until its head and body are in.
/// `upgrade_key` receives the `Sec-WebSocket-Key` of a valid WebSocket upgrade, if asked for.
pub(crate) fn parse(
    input: &[u8],
    max_body: usize,
    mut upgrade_key: Option<&mut Vec<u8>>,
) -> Result<Option<Head>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if input.len() > MAX_HEAD_BYTES => {
            return Err(HttpError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(HttpError::Malformed),
    };
    let mut body = 0usize;
    let mut close = req.version == Some(0);
    let (mut upgrade, mut conn_upgrade, mut version13) = (false, false, false);
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            body = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or(HttpError::Malformed)?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::Body);
        } else if name.eq_ignore_ascii_case("connection") {
            for t in h.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close = close && !t.eq_ignore_ascii_case(b"keep-alive")
                    || t.eq_ignore_ascii_case(b"close");
                conn_upgrade |= t.eq_ignore_ascii_case(b"upgrade");
            }
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade = h.value.trim_ascii().eq_ignore_ascii_case(b"websocket");
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            version13 = h.value.trim_ascii() == b"13";
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            if let Some(k) = upgrade_key.as_deref_mut() {
                k.clear();
                k.extend_from_slice(h.value.trim_ascii());
            }
        }
    }
    if body > max_body {
        return Err(HttpError::Body);
    }
    if let Some(k) = upgrade_key {
        let is_get = req.method == Some("GET");
        if !(is_get && upgrade && conn_upgrade && version13 && !k.is_empty()) {
            return Err(HttpError::BadUpgrade);
        }
    }
    let len = head_len + body;
    if input.len() < len {
        return Ok(None);
    }
    Ok(Some(Head {
        len,
        head_only: req.method == Some("HEAD"),
        close,
    }))
}

/// Answers the complete requests in `input` as far as `allow` lets it.
pub(crate) fn process(
    input: &[u8],
    out: &mut Vec<u8>,
    max_body: usize,
    allow: &mut Allowance,
) -> Result<Processed, (Processed, RequestError)> {
    let mut done = Processed::default();
    while out.len() < allow.out_limit && !allow.spent() {
        if allow.budget < MAX_REPLY_BYTES {
            done.starved = Some(MAX_REPLY_BYTES);
            break;
        }
        let head = match parse(&input[done.consumed..], max_body, None) {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(e) => {
                refuse(e, out);
                done.close = true;
                return Err((done, RequestError::Http(e)));
            }
        };
        let before = out.len();
        respond(head, out);
        allow.budget -= out.len() - before;
        done.consumed += head.len;
        done.requests += 1;
        allow.requests -= 1;
        if head.close {
            done.close = true;
            break;
        }
    }
    Ok(done)
}

/// Appends the `200 OK` for `head`.
fn respond(head: Head, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nServer: nines\r\nDate: ");
    with_date(|d| out.extend_from_slice(d));
    out.extend_from_slice(b"\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n");
    if head.close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head.head_only {
        out.extend_from_slice(BODY);
    }
}

/// Appends the reply to a request refused for `e`; the connection closes after it.
pub(crate) fn refuse(e: HttpError, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status(e).as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

thread_local! {
    /// The Date header's value, formatted once per second per thread.
    static DATE: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
}

/// Calls `f` with the current time as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn with_date(f: impl FnOnce(&[u8])) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let mut d = cell.borrow_mut();
        if d.0 != now {
            *d = (now, http_date(now));
        }
        f(&d.1);
    });
}

/// Formats Unix seconds as an IMF-fixdate (RFC 9110 §5.6.7).
fn http_date(secs: u64) -> [u8; 29] {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let s = format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let mut b = [b' '; 29];
    let n = s.len().min(29);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unlimited() -> Allowance {
        Allowance::UNLIMITED
    }

    #[test]
    fn dates_are_imf_fixdates() {
        assert_eq!(&http_date(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&http_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&http_date(1_709_208_000), b"Thu, 29 Feb 2024 12:00:00 GMT");
    }

    #[test]
    fn pipelined_requests_are_answered_in_order_and_close_is_honoured() {
        let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nHEAD /x HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let mut out = Vec::new();
        let p = process(input, &mut out, 1024, &mut unlimited()).unwrap();
        assert_eq!((p.requests, p.close), (4, true));
        assert_eq!(p.consumed, input.len() - b"GET / HTTP/1.1\r\n\r\n".len());
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 4);
        assert_eq!(text.matches("Hello, World!").count(), 3, "HEAD has no body");
        assert!(text.ends_with("Connection: close\r\n\r\nHello, World!"));
    }

    #[test]
    fn partial_and_bad_requests() {
        let mut out = Vec::new();
        let p = process(b"GET / HTTP/1.1\r\nHost:", &mut out, 1024, &mut unlimited()).unwrap();
        assert_eq!((p.consumed, p.requests), (0, 0));
        let http10 = b"GET / HTTP/1.0\r\n\r\n";
        assert!(
            process(http10, &mut out, 1024, &mut unlimited())
                .unwrap()
                .close
        );
        out.clear();
        let (p, e) = process(
            b"\x16\x03\x01garbage\r\n\r\n",
            &mut out,
            1024,
            &mut unlimited(),
        )
        .unwrap_err();
        assert_eq!(
            (e, p.close),
            (RequestError::Http(HttpError::Malformed), true)
        );
        assert!(out.starts_with(b"HTTP/1.1 400 Bad Request"));
        let big = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD_BYTES));
        let (_, e) = process(big.as_bytes(), &mut Vec::new(), 1024, &mut unlimited()).unwrap_err();
        assert_eq!(e, RequestError::Http(HttpError::HeadTooLarge));
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let (_, e) = process(chunked, &mut Vec::new(), 1024, &mut unlimited()).unwrap_err();
        assert_eq!(e, RequestError::Http(HttpError::Body));
    }

    #[test]
    fn a_turn_stops_at_its_request_allowance() {
        let input = b"GET / HTTP/1.1\r\n\r\n".repeat(5);
        let mut allow = Allowance {
            requests: 2,
            ..unlimited()
        };
        let p = process(&input, &mut Vec::new(), 1024, &mut allow).unwrap();
        assert_eq!((p.requests, allow.requests), (2, 0));
    }
}
