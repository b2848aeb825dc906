//! The real `nines` binary against servers that send without end or announce the impossible:
//! whatever a server sends, the driver's memory stays bounded (its peak RSS, VmHWM from
//! /proc/PID/status, under [`MAX_PEAK_KIB`]), a response past
//! `--max-response` or an array past what a Redis client takes is closed and counted by its
//! own kind at once (not left to `--timeout`), and the run still writes its result.
//!
//! Each server is a thread per connection writing until the driver goes (every loop bounded by
//! [`MAX_SERVER_BYTES`]); each run is bounded by `--duration`, `--timeout` and a deadline on the
//! process itself.

mod util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use nines_protocol::ws::{self, Opcode};
use serde_json::Value;

const MIB: u64 = 1 << 20;
/// The driver's whole peak RSS, whatever the server sends (it is about 10 MiB at rest).
const MAX_PEAK_KIB: u64 = 32 * 1024;
/// The most any server here writes to one connection.
const MAX_SERVER_BYTES: u64 = 2 << 30;
/// A run that has not ended by then has hung.
const DEADLINE: Duration = Duration::from_secs(60);
/// The bound the endless streams are run with, so they pass it in milliseconds.
const SMALL_MAX: &str = "16m";

/// What one run of the binary left.
struct Run {
    /// Its exit status (0 or 1: results written either way).
    code: i32,
    /// The result it wrote.
    json: Value,
    /// Its peak RSS, KiB.
    peak_kib: u64,
}

impl Run {
    fn errors(&self, kind: &str) -> u64 {
        self.json["errors_by_kind"][kind].as_u64().unwrap_or(0)
    }

    fn received(&self) -> u64 {
        self.json["transfer"]["received_bytes"]
            .as_u64()
            .unwrap_or(0)
    }
}

/// Runs `nines bench TARGET ARGS --json FILE`, sampling its VmHWM until it exits.
fn run(tag: &str, target: &str, args: &[&str]) -> Run {
    let json = util::scratch("hostile-servers").join(format!("{tag}.json"));
    let _ = std::fs::remove_file(&json);
    let mut child = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["bench", target, "-t", "1", "-w", "0s", "--json"])
        .arg(&json)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nines");
    let pid = child.id();
    let started = Instant::now();
    let mut peak_kib = 0;
    // VmHWM never falls, so the last reading is the peak up to then (wait4's maxrss would not
    // do: it counts the image of the test process the child was forked from).
    let status = loop {
        peak_kib = peak_kib.max(vm_hwm_kib(pid).unwrap_or(0));
        if let Some(status) = child.try_wait().expect("wait for nines") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("{tag}: nines still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let code = status
        .code()
        .unwrap_or_else(|| panic!("{tag}: nines ended by {status}"));
    assert!(code == 0 || code == 1, "{tag}: exit status {code}");
    let json = serde_json::from_slice(&std::fs::read(&json).expect("a result written"))
        .expect("the result is JSON");
    Run {
        code,
        json,
        peak_kib,
    }
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// The driver's peak stayed under the bound, and the result names `kind` for every connection.
fn assert_closed_as(r: &Run, tag: &str, kind: &str, connections: u64) {
    eprintln!(
        "{tag}: peak RSS {} KiB, received {} KiB, errors {}",
        r.peak_kib,
        r.received() / 1024,
        r.json["errors_by_kind"]
    );
    assert!(
        r.peak_kib < MAX_PEAK_KIB,
        "{tag}: peak RSS {} KiB",
        r.peak_kib
    );
    assert_eq!(
        r.errors(kind),
        connections,
        "{tag}: {}",
        r.json["errors_by_kind"]
    );
    assert_eq!(
        r.errors("timeout") + r.errors("drain_timeout"),
        0,
        "{tag}: not left to the timeout"
    );
    assert_eq!(
        r.code, 1,
        "{tag}: every connection lost, the run is cut short"
    );
}

/// Serves every connection on its own thread with `serve`; the address.
fn server(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
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

/// Reads the client's bytes up to and including `until` (the end of a request head, of a
/// RESP line); `None` once it is gone.
fn read_request(s: &mut TcpStream, until: &[u8]) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.windows(until.len()).any(|w| w == until) {
        let n = s.read(&mut chunk).ok().filter(|&n| n > 0)?;
        got.extend_from_slice(&chunk[..n]);
    }
    Some(got)
}

/// Waits for the client's first bytes (a WebSocket message); false once it is gone.
fn read_some(s: &mut TcpStream) -> bool {
    s.read(&mut [0u8; 4096]).is_ok_and(|n| n > 0)
}

/// Writes `first`, then `each` over and over until the client goes (or the byte bound).
fn then_endless(s: &mut TcpStream, first: &[u8], each: &[u8]) {
    let mut sent = first.len() as u64;
    if s.write_all(first).is_err() {
        return;
    }
    while sent < MAX_SERVER_BYTES && s.write_all(each).is_ok() {
        sent += each.len() as u64;
    }
}

/// A chunk of 64 KiB, with its size line and CRLF.
fn chunk() -> Vec<u8> {
    [&b"10000\r\n"[..], &[b'x'; 1 << 16], b"\r\n"].concat()
}

#[test]
fn http_bodies_past_the_bound_are_too_large_and_a_1_gib_download_is_not() {
    // An endless chunked body.
    let endless = server(|mut s| {
        if read_request(&mut s, b"\r\n\r\n").is_some() {
            let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
            then_endless(&mut s, head, &chunk());
        }
    });
    let args = [
        "-c",
        "2",
        "-d",
        "2s",
        "--timeout",
        "2s",
        "--max-response",
        SMALL_MAX,
    ];
    let r = run("chunked", &format!("http://{endless}/"), &args);
    assert_closed_as(&r, "endless chunked", "response_too_large", 2);
    // Refused at the chunk that would pass the bound: each body got within one of it.
    assert!(r.received() >= 2 * 15 * MIB, "both bodies got to the bound");

    // Content-Length 2^63 (and one that no u64 holds), at the default bound: refused from the
    // head, before the body.
    for length in ["9223372036854775808", "18446744073709551616"] {
        let addr = server(move |mut s| {
            if read_request(&mut s, b"\r\n\r\n").is_some() {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n");
                then_endless(&mut s, head.as_bytes(), &[b'x'; 1 << 16]);
            }
        });
        let args = ["-c", "2", "-d", "2s", "--timeout", "2s"];
        let r = run("length", &format!("http://{addr}/"), &args);
        assert_closed_as(&r, length, "response_too_large", 2);
    }

    // A 1 GiB download by Content-Length is a benchmark, not an error, at the default bound.
    let download = server(|mut s| {
        while read_request(&mut s, b"\r\n\r\n").is_some() {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 1u64 << 30);
            let piece = [b'x'; 1 << 16];
            if s.write_all(head.as_bytes()).is_err()
                || (0..(1 << 14)).any(|_| s.write_all(&piece).is_err())
            {
                return;
            }
        }
    });
    let args = ["-c", "1", "-n", "1", "--timeout", "30s"];
    let r = run("download", &format!("http://{download}/"), &args);
    eprintln!("1 GiB download: peak RSS {} KiB", r.peak_kib);
    assert_eq!(
        (
            r.code,
            r.json["requests"].as_u64(),
            r.json["errors"].as_u64()
        ),
        (0, Some(1), Some(0))
    );
    assert!(r.received() > 1 << 30);
    assert!(r.peak_kib < MAX_PEAK_KIB, "peak RSS {} KiB", r.peak_kib);
}

#[test]
fn resp_arrays_past_hiredis_and_endless_elements_are_closed_by_kind() {
    // 2^63 - 1 elements announced, then elements for ever: refused from the first line.
    let announced = server(|mut s| {
        if read_request(&mut s, b"\r\n").is_some() {
            then_endless(
                &mut s,
                b"*9223372036854775807\r\n",
                &b":1\r\n".repeat(1 << 14),
            );
        }
    });
    let args = ["-c", "2", "-d", "2s", "--timeout", "2s"];
    let r = run("resp-announced", &format!("redis://{announced}"), &args);
    assert_closed_as(&r, "2^63-1 elements", "too_many_elements", 2);
    assert!(r.received() < 4 * MIB, "refused before the elements");

    // As many as hiredis takes, sent for ever: closed at the bound.
    let endless = server(|mut s| {
        if read_request(&mut s, b"\r\n").is_some() {
            then_endless(&mut s, b"*4294967295\r\n", &b":1\r\n".repeat(1 << 14));
        }
    });
    let args = [
        "-c",
        "2",
        "-d",
        "2s",
        "--timeout",
        "2s",
        "--max-response",
        SMALL_MAX,
    ];
    let r = run("resp-endless", &format!("redis://{endless}"), &args);
    assert_closed_as(&r, "endless elements", "response_too_large", 2);
    assert!(r.received() >= 2 * 16 * MIB);

    // Both kinds are in the CSV and the text summary of the result, as in its JSON.
    let json = util::scratch("hostile-servers").join("resp-endless.json");
    let csv = util::ok(&["report", json.to_str().unwrap(), "--format", "csv"]);
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .contains(",response_too_large=2;aborted=2,"),
        "{csv}"
    );
    let text = util::ok(&["report", json.to_str().unwrap()]);
    assert!(text.contains("response_too_large 2"), "{text}");
}

/// Answers a WebSocket upgrade; false once the client is gone.
fn upgrade(s: &mut TcpStream) -> bool {
    let Some(head) = read_request(s, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&head);
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

#[test]
fn websocket_messages_past_the_bound_are_too_large_from_the_header_or_the_fragment() {
    // A frame announcing 2^62 bytes, in answer to the first message, then data for ever.
    let announced = server(|mut s| {
        if upgrade(&mut s) && read_some(&mut s) {
            let mut head = vec![0x82, 127];
            head.extend_from_slice(&(1u64 << 62).to_be_bytes());
            then_endless(&mut s, &head, &[b'x'; 1 << 16]);
        }
    });
    let args = ["-c", "2", "-d", "2s", "--timeout", "2s"];
    let r = run("ws-announced", &format!("ws://{announced}/"), &args);
    assert_closed_as(&r, "a 2^62-byte frame", "response_too_large", 2);
    assert_eq!(
        r.json["driver"]["decode_failures"],
        Value::Null,
        "not a decode error"
    );

    // A message whose continuations never end.
    let endless = server(|mut s| {
        if upgrade(&mut s) {
            let mut first = Vec::new();
            ws::encode(false, Opcode::Binary, None, &[b'x'; 1 << 16], &mut first);
            let mut more = Vec::new();
            ws::encode(
                false,
                Opcode::Continuation,
                None,
                &[b'x'; 1 << 16],
                &mut more,
            );
            then_endless(&mut s, &first, &more);
        }
    });
    let args = [
        "-c",
        "2",
        "-d",
        "2s",
        "--timeout",
        "2s",
        "--max-response",
        SMALL_MAX,
    ];
    let r = run("ws-endless", &format!("ws://{endless}/"), &args);
    assert_closed_as(&r, "endless continuations", "response_too_large", 2);
}

/// The payload of ping `i`: its number, then filler to the 125 bytes a ping may carry.
fn ping_payload(i: u64) -> [u8; 125] {
    let mut p = [b'p'; 125];
    p[..8].copy_from_slice(&i.to_be_bytes());
    p
}

#[test]
fn a_ping_flood_from_a_server_that_does_not_read_costs_one_pong() {
    const PINGS: u64 = (32 * MIB) / 127;
    let (done, last_pong) = mpsc::channel();
    let done = Mutex::new(done);
    let addr = server(move |mut s| {
        if !upgrade(&mut s) {
            return;
        }
        // 32 MiB of pings, reading nothing meanwhile.
        let mut burst = Vec::new();
        for i in 0..PINGS {
            ws::encode(true, Opcode::Ping, None, &ping_payload(i), &mut burst);
            if burst.len() >= 1 << 16 || i + 1 == PINGS {
                if s.write_all(&burst).is_err() {
                    return;
                }
                burst.clear();
            }
        }
        // Then read: the last pong the driver sends before it goes.
        let last = last_pong_until_gone(&mut s);
        let _ = done.lock().unwrap().send(last);
    });
    let args = [
        "-c",
        "2",
        "-d",
        "1s",
        "--timeout",
        "1s",
        "--drain-timeout",
        "200ms",
    ];
    let r = run("ws-pings", &format!("ws://{addr}/"), &args);
    eprintln!(
        "ping flood: peak RSS {} KiB, errors {}",
        r.peak_kib, r.json["errors_by_kind"]
    );
    assert!(r.peak_kib < MAX_PEAK_KIB, "peak RSS {} KiB", r.peak_kib);
    // Pings are no error: the messages the server never answered are what is counted.
    let kinds = r.json["errors_by_kind"].as_object().unwrap();
    assert!(
        kinds
            .keys()
            .all(|k| ["timeout", "drain_timeout", "aborted"].contains(&k.as_str())),
        "{kinds:?}"
    );
    // Each connection's last pong answered the last ping.
    for _ in 0..2 {
        let last = last_pong
            .recv_timeout(DEADLINE)
            .expect("the server finished");
        assert_eq!(last, Some(PINGS - 1));
    }
}

/// Reads the client's frames until it goes: the number in the last pong, if any.
fn last_pong_until_gone(s: &mut TcpStream) -> Option<u64> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1 << 16];
    let mut last = None;
    let mut read = 0u64;
    while read < MAX_SERVER_BYTES {
        let Ok(n) = s.read(&mut chunk) else { break };
        if n == 0 {
            break;
        }
        read += n as u64;
        buf.extend_from_slice(&chunk[..n]);
        while let Ok(Some(h)) = ws::decode(&buf, 1 << 20) {
            if buf.len() < h.frame_len() {
                break;
            }
            if h.opcode == Opcode::Pong && h.payload_len >= 8 {
                let mut p = buf[h.header_len..h.header_len + 8].to_vec();
                ws::apply_mask(h.mask.unwrap_or_default(), 0, &mut p);
                last = Some(u64::from_be_bytes(p.try_into().unwrap()));
            }
            buf.drain(..h.frame_len());
        }
    }
    last
}
