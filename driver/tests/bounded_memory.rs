//! The driver's memory stays bounded however large the replies: real sockets, 16 connections,
//! servers (threads in this test) that stream gigabyte bodies, 16 MiB chunks and 16 MiB
//! WebSocket echoes from a 64 KiB buffer of their own, and the peak RSS of this process
//! (VmHWM, reset before each run) compared with its RSS before. Until replies were taken as they
//! arrive, 16 connections fetching a 1 GB body took the driver to 1.1 GB.
//!
//! The runs share this process's RSS, so they take turns (one lock); each is bounded by a
//! request count or a 2 s window, never by sleeping.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nines_driver::config::{
    Bench, BenchConfig, HttpRequest, Load, RequestSpec, StopAt, Target, WsMessage, WsRequest,
};
use nines_driver::errors::ErrorKind;
use nines_driver::report::Outcome;
use nines_driver::run::{run, Hooks};
use nines_driver::Report;
use nines_protocol::ws;

const MIB: u64 = 1 << 20;
const CONNECTIONS: usize = 16;
/// What the replies may add to the driver's peak RSS, for all 16 connections together.
const ALLOWED_GROWTH: u64 = 64 * MIB;
/// What each server writes at a time.
const PIECE: usize = 64 * 1024;

/// One run at a time: they measure the same process.
static TURN: Mutex<()> = Mutex::new(());

/// Runs `cfg`, returning its report and how far the process's peak RSS rose above its RSS
/// before the run, in bytes.
fn run_measured(cfg: &BenchConfig) -> (Report, u64) {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    // Writing 5 resets VmHWM to the current RSS (Linux 4.0 and later).
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS");
    let before_kib = nines_driver::host::rss_kib("self");
    let report = run(cfg, &mut Hooks::default()).expect("the run starts");
    let peak_kib = status_kib("VmHWM:");
    (report, peak_kib.saturating_sub(before_kib) * 1024)
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("a VmHWM line")
}

/// A closed loop of one request in flight per connection, until `stop`; what is still in
/// flight then gets 30 s (requests counted) or 200 ms (a window: downloads never finish).
fn config(addr: SocketAddr, request: RequestSpec, stop: StopAt) -> BenchConfig {
    let drain_timeout = match stop {
        StopAt::Requests(_) => Duration::from_secs(30),
        StopAt::Duration(_) => Duration::from_millis(200),
    };
    BenchConfig {
        target: Target::Address(addr.to_string()),
        threads: 1,
        connections: CONNECTIONS,
        load: Load::ClosedLoop(Bench {
            pipeline: 1,
            warmup: Duration::ZERO,
            stop,
            max_errors: u64::MAX,
        }),
        request: request.into(),
        request_timeout: Duration::from_secs(60),
        drain_timeout,
        ..BenchConfig::default()
    }
}

/// Serves every connection on its own thread with `serve`.
fn server(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = Arc::new(serve);
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { return };
            let serve = serve.clone();
            std::thread::spawn(move || serve(s));
        }
    });
    addr
}

/// Reads up to the blank line that ends a request head (a GET has no body); false once the
/// client is gone.
fn read_head(s: &mut TcpStream, pending: &mut Vec<u8>) -> Option<String> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            pending.drain(..end + 4);
            return Some(head);
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Writes `len` bytes of body from one 64 KiB buffer; false once the client is gone.
fn write_body(s: &mut TcpStream, len: u64) -> bool {
    let piece = vec![b'x'; PIECE];
    let mut left = len;
    while left > 0 {
        let n = left.min(PIECE as u64) as usize;
        if s.write_all(&piece[..n]).is_err() {
            return false;
        }
        left -= n as u64;
    }
    true
}

/// Answers every request with a `body_bytes` body, by Content-Length.
fn serve_length(mut s: TcpStream, body_bytes: u64) {
    let mut pending = Vec::new();
    while read_head(&mut s, &mut pending).is_some() {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {body_bytes}\r\n\r\n");
        if s.write_all(head.as_bytes()).is_err() || !write_body(&mut s, body_bytes) {
            return;
        }
    }
}

/// Answers every request with `chunks` chunks of `chunk_bytes`.
fn serve_chunked(mut s: TcpStream, chunks: usize, chunk_bytes: u64) {
    let mut pending = Vec::new();
    while read_head(&mut s, &mut pending).is_some() {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        if s.write_all(head.as_bytes()).is_err() {
            return;
        }
        for _ in 0..chunks {
            let size = format!("{chunk_bytes:x}\r\n");
            if s.write_all(size.as_bytes()).is_err()
                || !write_body(&mut s, chunk_bytes)
                || s.write_all(b"\r\n").is_err()
            {
                return;
            }
        }
        if s.write_all(b"0\r\n\r\n").is_err() {
            return;
        }
    }
}

/// Answers a WebSocket upgrade; false once the client is gone.
fn upgrade(s: &mut TcpStream, pending: &mut Vec<u8>) -> bool {
    let Some(head) = read_head(s, pending) else {
        return false;
    };
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap_or("");
    let accept = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        ws::accept_key(key.trim().as_bytes())
    );
    s.write_all(accept.as_bytes()).is_ok()
}

/// Reads a client frame's header (and any payload bytes that came with it, after it).
fn read_frame_head(s: &mut TcpStream, pending: &mut Vec<u8>) -> Option<(ws::FrameHead, [u8; 4])> {
    loop {
        match ws::decode(pending, usize::MAX) {
            Ok(Some(h)) => return Some((h, h.mask?)),
            Ok(None) => {}
            Err(_) => return None,
        }
        let mut byte = [0u8; 1];
        s.read_exact(&mut byte).ok()?;
        pending.push(byte[0]);
    }
}

/// A WebSocket echo that relays each frame's payload as it arrives (unmasked), never holding a
/// message: the driver gets its message back while it is still sending it.
fn serve_ws_echo(mut s: TcpStream) {
    let mut header = Vec::new();
    if !upgrade(&mut s, &mut header) {
        return;
    }
    let mut piece = vec![0u8; PIECE];
    loop {
        let Some((frame, mask)) = read_frame_head(&mut s, &mut header) else {
            return;
        };
        let mut out = Vec::new();
        ws::encode_header(frame.fin, frame.opcode, None, frame.payload_len, &mut out);
        if s.write_all(&out).is_err() {
            return;
        }
        // Payload bytes that came with the header, then the rest as it comes.
        let mut done = header.len() - frame.header_len;
        let mut early = header[frame.header_len..].to_vec();
        ws::apply_mask(mask, 0, &mut early);
        if s.write_all(&early).is_err() {
            return;
        }
        while done < frame.payload_len {
            let want = (frame.payload_len - done).min(PIECE);
            let Ok(n) = s.read(&mut piece[..want]) else {
                return;
            };
            if n == 0 {
                return;
            }
            ws::apply_mask(mask, done, &mut piece[..n]);
            if s.write_all(&piece[..n]).is_err() {
                return;
            }
            done += n;
        }
        header.clear();
    }
}

/// A WebSocket server that answers every message, whatever it was, with a message of
/// `answer_bytes` (sent a piece at a time): wrong, and far larger than asked.
fn serve_ws_flood(mut s: TcpStream, answer_bytes: u64) {
    let mut pending = Vec::new();
    if !upgrade(&mut s, &mut pending) {
        return;
    }
    let mut piece = vec![0u8; PIECE];
    loop {
        let Some((frame, _)) = read_frame_head(&mut s, &mut pending) else {
            return;
        };
        let mut left = frame.frame_len() - pending.len().min(frame.frame_len());
        pending.clear();
        while left > 0 {
            let want = left.min(PIECE);
            match s.read(&mut piece[..want]) {
                Ok(0) | Err(_) => return,
                Ok(n) => left -= n,
            }
        }
        let mut out = Vec::new();
        ws::encode_header(
            true,
            ws::Opcode::Binary,
            None,
            answer_bytes as usize,
            &mut out,
        );
        if s.write_all(&out).is_err() || !write_body(&mut s, answer_bytes) {
            return;
        }
    }
}

fn http() -> RequestSpec {
    RequestSpec::Http(HttpRequest::default())
}

fn received(r: &Report) -> u64 {
    r.transfer.as_ref().map_or(0, |t| t.received_bytes)
}

#[test]
fn a_1_gib_body_per_request_streams_through_in_bounded_memory() {
    let addr = server(|s| serve_length(s, 1 << 30));
    let cfg = config(addr, http(), StopAt::Duration(Duration::from_secs(2)));
    let (r, growth) = run_measured(&cfg);
    let got = received(&r);
    eprintln!(
        "1 GiB bodies: received {} MiB, peak RSS growth {} KiB",
        got / MIB,
        growth / 1024
    );
    assert!(
        growth < ALLOWED_GROWTH,
        "peak RSS grew {} KiB",
        growth / 1024
    );
    // Far more went through than the driver could have held.
    assert!(got > 2 * ALLOWED_GROWTH, "received only {got} bytes");
    // Each connection ends with its download in flight: 16 unfinished at the drain.
    assert_eq!(
        r.errors_by_kind.get(ErrorKind::DrainTimeout),
        CONNECTIONS as u64
    );
    assert_eq!(r.errors, CONNECTIONS as u64, "{:?}", r.errors_by_kind);
}

#[test]
fn whole_64_mib_bodies_by_length_and_in_16_mib_chunks_are_counted_not_held() {
    let rows: [(&str, SocketAddr); 2] = [
        ("content-length", server(|s| serve_length(s, 64 * MIB))),
        ("chunked", server(|s| serve_chunked(s, 4, 16 * MIB))),
    ];
    for (name, addr) in rows {
        let cfg = config(addr, http(), StopAt::Requests(32));
        let (r, growth) = run_measured(&cfg);
        let got = received(&r);
        eprintln!(
            "{name}: {} replies, received {} MiB, peak RSS growth {} KiB",
            r.requests,
            got / MIB,
            growth / 1024
        );
        assert_eq!(
            (r.requests, r.errors),
            (32, 0),
            "{name}: {:?}",
            r.errors_by_kind
        );
        assert_eq!(r.outcome, Outcome::Completed, "{name}");
        assert!(got >= 32 * 64 * MIB, "{name}: received {got} bytes");
        assert!(
            growth < ALLOWED_GROWTH,
            "{name}: peak RSS grew {} KiB",
            growth / 1024
        );
    }
}

#[test]
fn websocket_echoes_are_checked_as_they_arrive_and_floods_counted_not_held() {
    // The largest message the driver sends: one nines frame's payload (validation's limit).
    let message = (1 << 20) - 40;
    let request = RequestSpec::Ws(WsRequest {
        message: WsMessage::Binary,
        payload_bytes: message.into(),
        ..WsRequest::default()
    });
    // A request is encoded whole before it is written, and its buffer kept for the next one:
    // a message per connection is the request side's, not the replies'.
    let requests = (CONNECTIONS * message) as u64;

    let echo = server(serve_ws_echo);
    let (r, growth) = run_measured(&config(echo, request.clone(), StopAt::Requests(64)));
    let got = received(&r);
    eprintln!(
        "ws echo: {} replies, received {} MiB, peak RSS growth {} KiB",
        r.requests,
        got / MIB,
        growth / 1024
    );
    assert_eq!((r.requests, r.errors), (64, 0), "{:?}", r.errors_by_kind);
    assert!(got >= 64 * message as u64, "received {got} bytes");
    assert!(
        growth < requests + ALLOWED_GROWTH,
        "echo: peak RSS grew {} KiB",
        growth / 1024
    );

    // Every message answered with 64 MiB: wrong content, counted until the error limit stops
    // the run, and never buffered.
    let flood = server(|s| serve_ws_flood(s, 64 * MIB));
    let mut cfg = config(flood, request, StopAt::Requests(1_000));
    if let Load::ClosedLoop(bench) = &mut cfg.load {
        bench.max_errors = CONNECTIONS as u64;
    }
    let (r, growth) = run_measured(&cfg);
    let got = received(&r);
    eprintln!(
        "ws flood: received {} MiB, peak RSS growth {} KiB",
        got / MIB,
        growth / 1024
    );
    assert!(
        r.errors_by_kind.get(ErrorKind::BadPayload) >= CONNECTIONS as u64,
        "{:?}",
        r.errors_by_kind
    );
    assert!(got >= CONNECTIONS as u64 * 64 * MIB, "received {got} bytes");
    assert!(
        growth < requests + ALLOWED_GROWTH,
        "flood: peak RSS grew {} KiB",
        growth / 1024
    );
}
