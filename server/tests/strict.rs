//! nines-server as strict as the servers it stands beside: the real binary and a reference
//! peer, each started by the test on a free loopback port, get the same hostile bytes, and
//! must answer alike. nginx is the reference for HTTP framing (Content-Length forms, body size),
//! python3-websockets for RFC 6455 (close codes). Where nines keeps a bound of its own (an 8 KiB
//! head, 64 headers: docs/limits.md), it is checked alone. Every refusal is also counted by its
//! kind in the counters the server prints when it stops.

mod util;

#[allow(dead_code)] // The driver's peers; these tests start nginx and python-websockets only.
#[path = "../../driver/tests/util/peers.rs"]
mod peers;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nines_protocol::ws::{self, Opcode};
use peers::{Nginx, WsEcho};
use util::ServerProc;

/// How long a test waits for a peer's answer before it fails.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// A scratch directory for nginx, removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("nines-strict-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reads what `s` sends until `done(bytes)` holds, the peer closes, or the wait runs out;
/// returns the bytes and whether the peer closed.
fn read_until(s: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + ANSWER_WITHIN;
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let (mut got, mut chunk) = (Vec::new(), [0u8; 16 * 1024]);
    while Instant::now() < deadline && !done(&got) {
        match s.read(&mut chunk) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A reset after the reply (the request's unread bytes): the peer closed.
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

// ---------------------------------------------------------------------------------------------
// HTTP

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

/// Sends `request` and returns the status of the reply (0 if none came), with the connection.
fn status_of(addr: SocketAddr, request: &[u8]) -> (u16, TcpStream) {
    let mut s = TcpStream::connect(addr).unwrap();
    // A refusal may reset the connection while this is still writing: the status came first.
    let _ = s.write_all(request);
    let head_end = |b: &[u8]| b.windows(4).any(|w| w == b"\r\n\r\n");
    let (got, _) = read_until(&mut s, head_end);
    let status = std::str::from_utf8(got.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, s)
}

/// Whether the server closes `s` (within the wait).
fn closes(s: &mut TcpStream) -> bool {
    read_until(s, |_| false).1
}

/// Requests where nginx is the reference: (what, request, the status both give).
fn framing_cases() -> Vec<(&'static str, Vec<u8>, u16)> {
    let mib = 1 << 20;
    vec![
        ("two different Content-Lengths", post(&["5", "3"], b"abcde"), 400),
        ("two equal Content-Lengths", post(&["3", "3"], b"abc"), 400),
        ("Content-Length: +5", post(&["+5"], b"abcde"), 400),
        ("Content-Length: -1", post(&["-1"], b""), 400),
        ("Content-Length: 0x5", post(&["0x5"], b"abcde"), 400),
        ("Content-Length: 5, 5", post(&["5, 5"], b"abcde"), 400),
        ("an empty Content-Length", post(&[""], b""), 400),
        ("a Content-Length past 64 bits", post(&["99999999999999999999999"], b""), 400),
        (
            "Content-Length and Transfer-Encoding",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            400,
        ),
        ("Content-Length with spaces around it", post(&[" 5 "], b"abcde"), 200),
        // --max-frame's default and nginx's client_max_body_size are both 1 MiB.
        ("a body of exactly 1 MiB", post(&["1048576"], &vec![b'a'; mib]), 200),
        // The head alone: both refuse on it, before the body.
        ("a body of 1 MiB + 1", post(&["1048577"], b""), 413),
        // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one before it.
        ("HTTP/1.1 without a Host", b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (
            "two Host lines",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            400,
        ),
        ("HTTP/1.0 without a Host", b"GET / HTTP/1.0\r\n\r\n".to_vec(), 200),
    ]
}

/// How many of [`framing_cases`] are about the Host header and refused.
const HOST_REFUSALS: u64 = 2;

#[test]
fn content_length_forms_and_the_body_bound_are_answered_as_nginx_answers_them() {
    let dir = Scratch::new("nginx");
    let nginx = Nginx::start(&dir.0);
    let server = ServerProc::start(&["--workers", "1", "--protocol", "http"]);
    let mut refused = 0;
    for (what, request, want) in framing_cases() {
        let (theirs, _) = status_of(nginx.addr, &request);
        let (ours, mut conn) = status_of(server.addr, &request);
        assert_eq!(theirs, want, "{what}: nginx, the reference, answers {want}");
        assert_eq!(ours, theirs, "{what}: nines-server answers as nginx does");
        if want != 200 {
            assert!(
                closes(&mut conn),
                "{what}: nines-server closes after a refusal"
            );
            refused += 1;
        }
    }
    drop(nginx);
    let c = server.stop_and_count();
    assert_eq!(
        c.get("errors_http_content_length"),
        refused - 1 - HOST_REFUSALS,
        "every 400 but the Host ones"
    );
    assert_eq!(c.get("errors_http_host"), HOST_REFUSALS);
    assert_eq!(c.get("errors_http_body_too_large"), 1);
    assert_eq!(c.get("errors_bad_http"), refused);
}

#[test]
fn nines_own_head_bounds_get_431_and_are_counted() {
    let server = ServerProc::start(&["--workers", "1", "--protocol", "http"]);
    let head = |len: usize| {
        let fixed = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n".len();
        let pad = "a".repeat(len - fixed);
        format!("GET / HTTP/1.1\r\nHost: a\r\nX: {pad}\r\n\r\n").into_bytes()
    };
    let headers = |n: usize| {
        let lines: String = (1..n).map(|i| format!("X-{i}: a\r\n")).collect();
        format!("GET / HTTP/1.1\r\nHost: a\r\n{lines}\r\n").into_bytes()
    };
    // nginx: a 16 KiB line gets 400 (each line is held to 8 KiB), 65 short headers get 200 (it
    // counts bytes, 32 KiB in all, not lines). nines holds the whole head to 8 KiB and 64 lines.
    let cases = [
        ("a head of exactly 8 KiB", head(8 * 1024), 200),
        ("a 16 KiB head, whole in one read", head(16 * 1024), 431),
        ("64 header lines", headers(64), 200),
        ("65 header lines", headers(65), 431),
    ];
    for (what, request, want) in cases {
        let (status, mut conn) = status_of(server.addr, &request);
        assert_eq!(status, want, "{what}");
        if want != 200 {
            assert!(closes(&mut conn), "{what}: closed after a refusal");
        }
    }
    let c = server.stop_and_count();
    assert_eq!(c.get("errors_http_head_too_large"), 1);
    assert_eq!(c.get("errors_http_too_many_headers"), 1);
    assert_eq!(c.get("errors_bad_http"), 2);
}

// ---------------------------------------------------------------------------------------------
// WebSocket

/// A masked client frame.
fn frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    ws::encode(fin, opcode, Some([1, 2, 3, 4]), payload, &mut v);
    v
}

fn close_frame(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    frame(true, Opcode::Close, &p)
}

/// Upgrades a connection to `addr`, sends `frames`, and returns the code of the close frame
/// the server answers with (`None` if the connection ended without one).
fn close_code(addr: SocketAddr, frames: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&nines_server::ws::upgrade_request(
        "dGhlIHNhbXBsZSBub25jZQ==",
    ))
    .unwrap();
    let head_end = |b: &[u8]| b.windows(4).position(|w| w == b"\r\n\r\n");
    let (got, _) = read_until(&mut s, |b| head_end(b).is_some());
    assert!(got.starts_with(b"HTTP/1.1 101"), "upgrade to {addr}");
    let mut rest = got[head_end(&got).unwrap() + 4..].to_vec();
    // A refusal may reset the connection while this is still writing: what matters is the
    // close frame the server sent first.
    let _ = s.write_all(frames);
    loop {
        while let Ok(Some(h)) = ws::decode(&rest, usize::MAX) {
            if rest.len() < h.frame_len() {
                break;
            }
            let payload = &rest[h.header_len..h.frame_len()];
            if h.opcode == Opcode::Close {
                return payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            }
            rest.drain(..h.frame_len());
        }
        let (more, _) = read_until(&mut s, |b| !b.is_empty());
        rest.extend_from_slice(&more);
        if more.is_empty() {
            return None; // closed, or silent for ANSWER_WITHIN
        }
    }
}

/// Hostile frames and the close code RFC 6455 asks for.
fn hostile_frames() -> Vec<(String, Vec<u8>, u16)> {
    use Opcode::{Binary, Close, Continuation, Ping, Text};
    let mut cases = vec![
        (
            "text that is not UTF-8".to_string(),
            frame(true, Text, b"\xff\xfe"),
            1007,
        ),
        (
            "a bad code point across fragments".into(),
            [
                frame(false, Text, b"ok\xe2\x82"),
                frame(true, Continuation, b"\x28"),
            ]
            .concat(),
            1007,
        ),
        (
            "a good code point across fragments, then a close".into(),
            [
                frame(false, Text, b"ok\xe2\x82"),
                frame(true, Continuation, b"\xac!"),
                close_frame(1000, b""),
            ]
            .concat(),
            1000,
        ),
        (
            "a stray continuation".into(),
            frame(true, Continuation, b"x"),
            1002,
        ),
        (
            "a new message mid-fragment".into(),
            [frame(false, Text, b"a"), frame(true, Binary, b"b")].concat(),
            1002,
        ),
        ("a fragmented ping".into(), frame(false, Ping, b"x"), 1002),
        (
            "a ping of 126 bytes".into(),
            frame(true, Ping, &[b'x'; 126]),
            1002,
        ),
        (
            "a reserved bit".into(),
            vec![0xC2, 0x81, 1, 2, 3, 4, b'x' ^ 1],
            1002,
        ),
        (
            "reserved opcode 3".into(),
            vec![0x83, 0x81, 1, 2, 3, 4, b'x' ^ 1],
            1002,
        ),
        (
            "reserved opcode 0xB".into(),
            vec![0x8B, 0x81, 1, 2, 3, 4, b'x' ^ 1],
            1002,
        ),
        ("an unmasked frame".into(), vec![0x82, 0x01, b'x'], 1002),
        (
            "a close of 1 byte".into(),
            frame(true, Close, &[0x03]),
            1002,
        ),
        (
            "a close reason not UTF-8".into(),
            close_frame(1000, b"\xff"),
            1007,
        ),
    ];
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        cases.push((format!("close code {code}"), close_frame(code, b""), 1002));
    }
    for code in [1001, 1012, 3000, 4999] {
        cases.push((
            format!("close code {code}"),
            close_frame(code, b"bye"),
            code,
        ));
    }
    cases
}

#[test]
fn hostile_websocket_frames_get_the_close_codes_python_websockets_gives() {
    let python = WsEcho::start();
    let server = ServerProc::start(&["--workers", "1", "--protocol", "ws"]);
    let (mut protocol, mut utf8) = (0, 0);
    for (what, frames, want) in hostile_frames() {
        let theirs = close_code(python.addr, &frames);
        let ours = close_code(server.addr, &frames);
        assert_eq!(
            theirs,
            Some(want),
            "{what}: python-websockets, the reference"
        );
        assert_eq!(
            ours, theirs,
            "{what}: nines-server closes as python-websockets does"
        );
        match want {
            1002 => protocol += 1,
            1007 => utf8 += 1,
            _ => {}
        }
    }
    let c = server.stop_and_count();
    assert_eq!(c.get("errors_ws_protocol"), protocol);
    assert_eq!(c.get("errors_ws_invalid_utf8"), utf8);
    assert_eq!(c.get("errors_bad_ws"), protocol + utf8);
}

#[test]
fn a_frame_over_max_frame_with_its_header_is_closed_with_1009_and_counted() {
    let server = ServerProc::start(&["--workers", "1", "--protocol", "ws", "--max-frame", "64k"]);
    // 65,531 bytes of payload behind an 8-byte header: just under --max-frame alone, over it
    // with the header. (The whole frame must fit the read buffer, which --max-frame sizes.)
    let just_under = frame(true, Opcode::Binary, &vec![7; 64 * 1024 - 5]);
    assert_eq!(close_code(server.addr, &just_under), Some(1009));
    let fits = frame(true, Opcode::Binary, &vec![7; 64 * 1024 - 8]);
    let then_close = [fits, close_frame(1000, b"")].concat();
    assert_eq!(
        close_code(server.addr, &then_close),
        Some(1000),
        "a frame of exactly --max-frame is taken"
    );
    let c = server.stop_and_count();
    assert_eq!(c.get("errors_ws_too_large"), 1);
    assert_eq!(c.get("errors_bad_ws"), 1);
}
