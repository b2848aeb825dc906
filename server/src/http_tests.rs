//! Tests of the HTTP responder (server/src/http.rs): the replies to good requests, and one row
//! per way a request head can be refused (RFC 9112's framing rules, and the bounds of
//! docs/limits.md), each fed whole and then a few bytes per read, with the status, the refusal
//! and the counter it lands in. server/tests/strict.rs sends the same requests to the real
//! binary and to nginx.

use super::*;
use crate::stats::Registry;

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
    let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nHEAD /x HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut out = Vec::new();
    let p = process(input, &mut out, 1024, &mut unlimited()).unwrap();
    assert_eq!((p.requests, p.close), (4, true));
    assert_eq!(
        p.consumed,
        input.len() - b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".len()
    );
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
    let chunked = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    let (_, e) = process(chunked, &mut Vec::new(), 1024, &mut unlimited()).unwrap_err();
    assert_eq!(e, RequestError::Http(HttpError::TransferEncoding));
}

#[test]
fn a_turn_stops_at_its_request_allowance() {
    let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(5);
    let mut allow = Allowance {
        requests: 2,
        ..unlimited()
    };
    let p = process(&input, &mut Vec::new(), 1024, &mut allow).unwrap();
    assert_eq!((p.requests, allow.requests), (2, 0));
}

struct Row {
    name: &'static str,
    request: Vec<u8>,
    /// The status line's code.
    status: u16,
    refused: Option<HttpError>,
}

/// A POST with these Content-Length values (one header each) and `body`.
fn post(lengths: &[&str], body: &[u8]) -> Vec<u8> {
    let mut v = b"POST / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for l in lengths {
        v.extend_from_slice(format!("Content-Length: {l}\r\n").as_bytes());
    }
    v.extend_from_slice(b"\r\n");
    v.extend_from_slice(body);
    v
}

/// A GET whose head is exactly `len` bytes (one padding header makes up the length).
fn head_of(len: usize) -> Vec<u8> {
    let fixed = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n".len();
    let pad = "a".repeat(len - fixed);
    format!("GET / HTTP/1.1\r\nHost: a\r\nX: {pad}\r\n\r\n").into_bytes()
}

/// A GET with `n` header lines, its Host the first.
fn headers(n: usize) -> Vec<u8> {
    let mut v = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 1..n {
        v.extend_from_slice(format!("X-{i}: a\r\n").as_bytes());
    }
    v.extend_from_slice(b"\r\n");
    v
}

const MAX_BODY: usize = 1000;

fn rows() -> Vec<Row> {
    let ok = |name, request| Row {
        name,
        request,
        status: 200,
        refused: None,
    };
    let refused = |name, request, status, e| Row {
        name,
        request,
        status,
        refused: Some(e),
    };
    use HttpError::*;
    let past_usize = format!("{}0", usize::MAX);
    vec![
        ok("a Content-Length of 1*DIGIT", post(&["5"], b"abcde")),
        ok(
            "whitespace around the value is not part of it",
            post(&[" 5\t"], b"abcde"),
        ),
        ok("leading zeros are digits", post(&["0005"], b"abcde")),
        refused(
            "§6.3: two different Content-Lengths",
            post(&["5", "3"], b"abcde"),
            400,
            ContentLength,
        ),
        refused(
            "two equal Content-Lengths, refused as nginx does",
            post(&["3", "3"], b"abc"),
            400,
            ContentLength,
        ),
        refused("a sign: +5", post(&["+5"], b"abcde"), 400, ContentLength),
        refused("a sign: -1", post(&["-1"], b""), 400, ContentLength),
        refused("hex", post(&["0x5"], b"abcde"), 400, ContentLength),
        refused(
            "a list, even of equal values",
            post(&["5, 5"], b"abcde"),
            400,
            ContentLength,
        ),
        refused("an empty value", post(&[""], b""), 400, ContentLength),
        refused("past usize", post(&[&past_usize], b""), 400, ContentLength),
        refused(
            "§6.3: Content-Length beside Transfer-Encoding",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            400,
            ContentLength,
        ),
        refused(
            "a chunked body, which the server does not read",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            413,
            TransferEncoding,
        ),
        ok(
            "a body of exactly --max-frame",
            post(&["1000"], &[b'a'; MAX_BODY]),
        ),
        refused(
            "a body one byte over --max-frame",
            post(&["1001"], b""),
            413,
            BodyTooLarge,
        ),
        refused(
            "§3.2: an HTTP/1.1 request without a Host",
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            400,
            Host,
        ),
        refused(
            "§3.2: two Host lines, even equal ones",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n".to_vec(),
            400,
            Host,
        ),
        refused(
            "two Host lines in HTTP/1.0 too",
            b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            400,
            Host,
        ),
        ok(
            "HTTP/1.0 predates Host",
            b"GET / HTTP/1.0\r\n\r\n".to_vec(),
        ),
        ok(
            "the header's name in any case",
            b"GET / HTTP/1.1\r\nhOST: a\r\n\r\n".to_vec(),
        ),
        ok("a head of exactly 8 KiB", head_of(MAX_HEAD_BYTES)),
        refused(
            "a head one byte over 8 KiB",
            head_of(MAX_HEAD_BYTES + 1),
            431,
            HeadTooLarge,
        ),
        refused(
            "a 16 KiB head",
            head_of(2 * MAX_HEAD_BYTES),
            431,
            HeadTooLarge,
        ),
        ok("64 header lines", headers(MAX_HEADERS)),
        refused(
            "65 header lines",
            headers(MAX_HEADERS + 1),
            431,
            TooManyHeaders,
        ),
        refused(
            "not HTTP",
            b"\x16\x03\x01garbage\r\n\r\n".to_vec(),
            400,
            Malformed,
        ),
    ]
}

/// Feeds `input` `step` bytes per read, as the connection does; what the client got, and the
/// refusal if there was one.
fn feed(input: &[u8], step: usize) -> (Vec<u8>, Option<RequestError>) {
    let (mut out, mut consumed) = (Vec::new(), 0);
    for end in (step..input.len() + step).step_by(step) {
        let end = end.min(input.len());
        match process(&input[consumed..end], &mut out, MAX_BODY, &mut unlimited()) {
            Ok(p) => consumed += p.consumed,
            Err((_, e)) => return (out, Some(e)),
        }
    }
    (out, None)
}

#[test]
fn every_framing_rule_and_bound_gets_its_status() {
    for row in rows() {
        for step in [row.request.len(), 7] {
            let what = format!("{} ({step} bytes per read)", row.name);
            let (out, err) = feed(&row.request, step);
            let status = format!("HTTP/1.1 {} ", row.status);
            assert!(
                out.starts_with(status.as_bytes()),
                "{what}: got {:?}",
                String::from_utf8_lossy(&out[..out.len().min(40)])
            );
            assert_eq!(err, row.refused.map(RequestError::Http), "{what}");
            if let Some(e) = err {
                assert!(out.ends_with(b"Connection: close\r\n\r\n"), "{what}");
                let mut registry = Registry::default();
                registry.register().count_decode_error(&e);
                let pairs = registry.snapshot().pairs();
                let counted: Vec<_> = pairs.into_iter().filter(|&(_, v)| v > 0).collect();
                let kind = format!("errors_{}", e.kind());
                assert_eq!(
                    counted,
                    [("errors_bad_http", 1), (kind.as_str(), 1)],
                    "{what}: counted by its kind and in the total"
                );
            }
        }
    }
}
