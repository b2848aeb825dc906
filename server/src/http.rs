//! `--protocol http`: a keep-alive HTTP/1.1 responder, so nines-server can stand beside nginx
//! under the same load. Every request gets the same small `200 OK` (HEAD without its body);
//! requests are parsed with httparse, pipelined requests are answered in order, and a request
//! that says `Connection: close` (or an HTTP/1.0 one without keep-alive) gets its reply and then
//! the connection is closed. A refused request gets its status and a close: `400` for one
//! httparse cannot read, whose body length is ambiguous (a Content-Length that is not plain
//! digits, one given twice, or one beside Transfer-Encoding: the request-smuggling shapes of
//! RFC 9112 §6.3, refused as nginx refuses them) or whose Host is missing (HTTP/1.1) or given
//! twice (RFC 9112 §3.2); `431` for a head over 8 KiB or 64 header lines; `413` for a body over
//! `--max-frame` (nginx's `client_max_body_size`) or a chunked one. The connection limits (read
//! and idle timeouts, the reply budget) apply as to every protocol.

use std::cell::RefCell;
use std::time::SystemTime;

pub use crate::outcome::HttpError;
use crate::outcome::RequestError;
use crate::turn::{Allowance, Processed};

/// The body every request gets.
pub const BODY: &[u8] = b"Hello, World!";
/// Longest request head accepted, request line to the blank line: a longer one gets 431.
/// nginx's default `large_client_header_buffers 4 8k` bounds each line at 8 KiB (400 past it)
/// and the head at 32 KiB; one 8 KiB bound on the whole head is stricter and simpler.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most header lines a request may have: one more gets 431 (nginx has no count of its own).
pub const MAX_HEADERS: usize = 64;
/// Room one reply needs at most.
pub const MAX_REPLY_BYTES: usize = 256;

/// The status line a refused request is answered with.
fn status(e: HttpError) -> &'static str {
    match e {
        HttpError::Malformed
        | HttpError::ContentLength
        | HttpError::Host
        | HttpError::BadUpgrade => "400 Bad Request",
        HttpError::HeadTooLarge | HttpError::TooManyHeaders => {
            "431 Request Header Fields Too Large"
        }
        HttpError::BodyTooLarge | HttpError::TransferEncoding => "413 Content Too Large",
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
        // A whole head that came in one read is held to the bound as one trickled in is.
        Ok(httparse::Status::Complete(n)) if n > MAX_HEAD_BYTES => {
            return Err(HttpError::HeadTooLarge)
        }
        Ok(httparse::Status::Complete(n)) => n,
        // Not complete within the bound: longer than it.
        Ok(httparse::Status::Partial) if input.len() >= MAX_HEAD_BYTES => {
            return Err(HttpError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
        Err(_) => return Err(HttpError::Malformed),
    };
    let mut content_length = None;
    let mut transfer_encoding = false;
    let mut close = req.version == Some(0);
    let (mut upgrade, mut conn_upgrade, mut version13) = (false, false, false);
    let mut hosts = 0;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            // Two Content-Lengths, even equal ones, are refused as nginx refuses them: which
            // one frames the body is what request smuggling plays on (RFC 9112 §6.3).
            if content_length.is_some() {
                return Err(HttpError::ContentLength);
            }
            content_length = Some(parse_content_length(h.value)?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
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
    // HTTP/1.0 predates Host; HTTP/1.1 must send exactly one (RFC 9112 §3.2).
    if hosts > 1 || (hosts == 0 && req.version == Some(1)) {
        return Err(HttpError::Host);
    }
    let body = match (content_length, transfer_encoding) {
        // Both: the other smuggling shape of RFC 9112 §6.3 (nginx: 400).
        (Some(_), true) => return Err(HttpError::ContentLength),
        (None, true) => return Err(HttpError::TransferEncoding),
        (Some(n), false) if n > max_body => return Err(HttpError::BodyTooLarge),
        (n, false) => n.unwrap_or(0),
    };
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

/// A Content-Length value: 1*DIGIT (RFC 9110 §8.6) that fits a usize, with the optional
/// whitespace around a field value (SP, HTAB) not part of it. `+5`, `-1`, `0x5`, `5, 5`, an
/// empty value and one past usize are refused, as nginx refuses them.
fn parse_content_length(value: &[u8]) -> Result<usize, HttpError> {
    let ows = |b: &u8| matches!(b, b' ' | b'\t');
    let start = value.iter().position(|b| !ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    let digits = &value[start..end];
    if digits.is_empty() {
        return Err(HttpError::ContentLength);
    }
    digits
        .iter()
        .try_fold(0usize, |n, &d| {
            let d = d.is_ascii_digit().then(|| usize::from(d - b'0'))?;
            n.checked_mul(10)?.checked_add(d)
        })
        .ok_or(HttpError::ContentLength)
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

/// Appends the reply to a request refused for `e`; the connection closes after it. A refused
/// WebSocket upgrade names the version the server speaks, as RFC 6455 §4.2.2 asks of a server
/// given one it does not (python-websockets answers 400 too, without the header).
pub(crate) fn refuse(e: HttpError, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status(e).as_bytes());
    if e == HttpError::BadUpgrade {
        out.extend_from_slice(b"\r\nSec-WebSocket-Version: 13");
    }
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
#[path = "http_tests.rs"]
mod tests;
