//! The driver against servers that answer wrongly: every wrong answer is an error of the right
//! kind, and the error limit stops the run with what it measured.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use nines_driver::config::{
    Bench, BenchConfig, HttpRequest, Load, NinesOp, RedisRequest, RequestSpec, StopAt, Target,
    WsRequest,
};
use nines_driver::errors::ErrorKind;
use nines_driver::report::{CutShort, Outcome};
use nines_driver::run::{run, Hooks};
use nines_protocol::{decode, encode};

/// A nines server that answers every request with the given id shift (0 = correct).
fn fake_server(id_shift: u64, answer_every: u64) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            std::thread::spawn(move || serve(s, id_shift, answer_every));
        }
    });
    addr
}

fn serve(mut s: TcpStream, id_shift: u64, answer_every: u64) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut seen = 0u64;
    loop {
        let n = match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut out = Vec::new();
        let mut used = 0;
        while let Ok(Some((f, len))) = decode(&buf[used..], 1 << 20) {
            seen += 1;
            let mut h = f.header.reply();
            // Every `answer_every`-th request gets a reply with a shifted id.
            if seen % answer_every == 0 {
                h.request_id = h.request_id.wrapping_add(id_shift);
            }
            encode(&h, f.payload, &mut out);
            used += len;
        }
        buf.drain(..used);
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

fn config(addr: SocketAddr, requests: u64, max_errors: u64) -> BenchConfig {
    BenchConfig {
        target: Target::Address(addr.to_string()),
        threads: 1,
        connections: 2,
        load: Load::ClosedLoop(Bench {
            pipeline: 4,
            stop: StopAt::Requests(requests),
            warmup: Duration::ZERO,
            max_errors,
        }),
        request: RequestSpec::Nines(NinesOp::Echo {
            payload_bytes: 32.into(),
        })
        .into(),
        request_timeout: Duration::from_millis(300),
        drain_timeout: Duration::from_millis(300),
        ..BenchConfig::default()
    }
}

#[test]
fn replies_to_unknown_ids_are_counted_and_the_limit_stops_the_run() {
    let addr = fake_server(1_000_000, 10);
    let r = run(&config(addr, 2_000, 30), &mut Hooks::default()).unwrap();
    assert!(matches!(
        r.outcome,
        Outcome::CutShort(CutShort::ErrorLimit { .. })
    ));
    assert!(
        r.errors_by_kind.get(ErrorKind::UnknownId) >= 1,
        "{:?}",
        r.errors_by_kind
    );
    assert!(r.errors >= 30);
    assert!(r.requests > 0, "correct replies before the limit are kept");
    assert!(
        r.diagnosis.iter().any(
            |l| l.kind == nines_driver::report::diagnosis::LimitKind::Errors
                && l.evidence.contains("unknown_id")
        ),
        "the errors are named as what limited the run: {:?}",
        r.diagnosis
    );
}

#[test]
fn unanswered_requests_become_timeouts_when_the_drain_expires() {
    // With every 10th reply's id wrong, those requests never get their own reply; with a high
    // error limit the run reaches its end and the unanswered requests are counted as timeouts.
    let addr = fake_server(1_000_000, 10);
    let r = run(&config(addr, 400, 1_000_000), &mut Hooks::default()).unwrap();
    let e = &r.errors_by_kind;
    let unanswered = e.get(ErrorKind::Timeout) + e.get(ErrorKind::DrainTimeout);
    assert!(unanswered > 0, "{e:?}");
    // Every request sent ends as exactly one of: a recorded reply, or a request-level error.
    assert_eq!(r.driver.requests_sent, 400);
    assert_eq!(r.requests + unanswered, 400, "{e:?}");
    // Each reply with a wrong id stands for one request that is never answered.
    assert_eq!(e.get(ErrorKind::UnknownId), unanswered);
    assert_eq!(r.outcome, Outcome::Completed);
}

#[test]
fn a_correct_fake_server_gives_zero_errors() {
    // The same fake with a zero shift is a correct server: the errors above come from the shift.
    let addr = fake_server(0, 1);
    let r = run(&config(addr, 2_000, 1), &mut Hooks::default()).unwrap();
    assert_eq!(
        (r.requests, r.errors, r.outcome),
        (2_000, 0, Outcome::Completed)
    );
}

/// A server that answers every read with `reply`, after answering a WebSocket upgrade first
/// when `upgrade` is set.
fn scripted_server(reply: &'static [u8], upgrade: bool) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let mut upgraded = !upgrade;
                loop {
                    let n = match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let out = if upgraded {
                        reply.to_vec()
                    } else {
                        upgraded = true;
                        accept(&buf[..n])
                    };
                    if s.write_all(&out).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A valid 101 for the upgrade request in `req`.
fn accept(req: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(req);
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a key");
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        nines_protocol::ws::accept_key(key.trim().as_bytes())
    )
    .into_bytes()
}

#[test]
fn malformed_http_resp_and_websocket_replies_are_counted_by_kind() {
    let http = || RequestSpec::Http(HttpRequest::default());
    let ws = || RequestSpec::Ws(WsRequest::default());
    let cases: [(RequestSpec, &'static [u8], bool, &str); 6] = [
        (http(), b"HTTP/1.1 2x0 OK\r\n\r\n", false, "http_status_line"),
        (http(), b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, "http_content_length"),
        // Says 10 bytes, sends 5: the next reply's head is read as body, the rest is garbage.
        (
            http(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
            false,
            "http_status_line",
        ),
        (
            RequestSpec::Redis(RedisRequest::default()),
            b"?what\r\n",
            false,
            "resp_type",
        ),
        (ws(), &[0x82, 0x81, 1, 2, 3, 4, 0x61], true, "ws_masked"),
        (ws(), &[0xC2, 0x01, 0x61], true, "ws_reserved_bits"),
    ];
    for (request, reply, upgrade, kind) in cases {
        let addr = scripted_server(reply, upgrade);
        let protocol = request.protocol();
        let cfg = BenchConfig {
            request: request.into(),
            ..config(addr, 100, 1_000)
        };
        let r = run(&cfg, &mut Hooks::default()).unwrap();
        assert_eq!(
            r.driver.decode_failures.get(kind).copied(),
            Some(2),
            "{protocol} {kind}: {:?} {:?} {:?}",
            r.driver.decode_failures,
            r.errors_by_kind,
            r.outcome
        );
        assert_eq!(
            r.errors_by_kind.get(ErrorKind::Decode),
            2,
            "{protocol} {kind}"
        );
        assert!(
            matches!(r.outcome, Outcome::CutShort(_)),
            "{protocol} {kind}"
        );
    }
}

#[test]
fn a_refused_websocket_upgrade_is_a_connect_failure_by_kind() {
    let addr = scripted_server(
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
        false,
    );
    let cfg = BenchConfig {
        request: RequestSpec::Ws(WsRequest::default()).into(),
        ..config(addr, 100, 1_000)
    };
    let r = run(&cfg, &mut Hooks::default()).unwrap();
    assert_eq!(
        r.driver
            .connect_failures
            .get("ws_handshake_status")
            .copied(),
        Some(2),
        "{:?}",
        r.driver.connect_failures
    );
    assert_eq!(r.requests, 0);
}
