//! Hostile and careless TLS clients against the real binary, held to the same limits as plain
//! ones (server/tests/hostile.rs) and counted, while a real TLS client beside them is served:
//! - a TLS slowloris (TCP opened and no ClientHello, or half of one) is closed within
//!   `--read-timeout` of its accept, and one that trickles a record after its handshake within
//!   `--read-timeout` of the record's first byte, as a request in part is;
//! - garbage instead of a ClientHello, or a client that refuses the server's certificate,
//!   closes that one connection and is counted as a failed handshake;
//! - TLS clients that never read their replies cannot push the server's memory past
//!   `--max-buffered` (the TLS records it holds are counted in it), and are closed once
//!   their replies stall;
//! - a bad `--tls-cert`/`--tls-key` is one line and exit status 2 at start, before listening.

mod util;

#[path = "../../driver/tests/util/certs.rs"]
mod certs;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certs::Certs;
use nines_protocol::HEADER_LEN;
use rustls::pki_types::ServerName;
use util::tls::{client_config, connect, echo, wait_for_stats};
use util::{
    assert_held_to_the_budget, get, never_read_asks, rss_kib, ServerProc, MODELS,
    NEVER_READING_FLAGS,
};

/// nines-server with TLS on the test certificate, one worker, `model`, and `extra` flags.
fn tls_server(certs: &Certs, model: &str, extra: &[&str]) -> ServerProc {
    util::tls::start(&certs.server.cert, &certs.server.key, model, extra)
}

/// Reads until the server closes `s` (bounded by `limit`): what it sent, and how long after
/// `since` it closed, if it did.
fn until_closed(s: &mut TcpStream, since: Instant, limit: Duration) -> (Vec<u8>, Option<Duration>) {
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
    while since.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return (got, Some(since.elapsed())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (got, Some(since.elapsed()))
            }
            Err(_) => {}
        }
    }
    (got, None)
}

/// The first flight of a real TLS client (its ClientHello record).
fn client_hello(config: &Arc<rustls::ClientConfig>) -> Vec<u8> {
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    hello
}

#[test]
fn a_tls_slowloris_is_closed_within_the_read_timeout_in_both_models() {
    let certs = Certs::new();
    let config = client_config(&certs.ca);
    let hello = client_hello(&config);
    for model in MODELS {
        let server = tls_server(&certs, model, &["--read-timeout", "300ms"]);
        let opened = Instant::now();
        let mut silent = TcpStream::connect(server.addr).unwrap();
        let mut half = TcpStream::connect(server.addr).unwrap();
        half.write_all(&hello[..hello.len() / 2]).unwrap();
        // A real client beside them is served meanwhile.
        let mut real = connect(server.addr, &config);
        echo(&mut real, 1, b"served");
        for (what, s) in [("silent", &mut silent), ("half a ClientHello", &mut half)] {
            let (sent, took) = until_closed(s, opened, Duration::from_secs(5));
            let took = took.unwrap_or_else(|| panic!("{model}: {what} never closed"));
            assert!(
                took >= Duration::from_millis(290) && took < Duration::from_millis(1_500),
                "{model}: {what} closed after {took:?}"
            );
            assert!(sent.is_empty(), "{model}: {what} got {sent:?}");
        }
        // Past the read timeout a finished handshake is not a slowloris.
        echo(&mut real, 2, b"still served");
        drop(real);
        let c = server.stop_and_count();
        c.expect(
            &[
                ("closed_tls_handshake_timeout", 2),
                ("closed_read_timeout", 0),
                ("tls_handshakes_full", 1),
                ("errors_tls_handshake", 0),
            ],
            model,
        );
    }
}

#[test]
fn a_record_trickled_after_the_handshake_is_closed_by_the_read_timeout_in_both_models() {
    // A record that announces 200 bytes, of which the trickler sends a byte every 100 ms and
    // never the last: no plaintext ever comes of it, so the connection's request buffer stays
    // empty, and it used to live until the idle timeout (5 min), holding rustls' buffers.
    let mut record = vec![23, 3, 3, 0, 200];
    record.resize(5 + 200, 0xAA);
    let certs = Certs::new();
    for model in MODELS {
        let server = tls_server(&certs, model, &["--read-timeout", "300ms"]);
        let mut real = connect(server.addr, &client_config(&certs.ca));
        echo(&mut real, 1, b"served");
        // A handshake of its own (not resumed from the real client's session), then raw bytes
        // under rustls.
        let mut trickler = connect(server.addr, &client_config(&certs.ca));
        let sock = &mut trickler.sock;
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let began = Instant::now();
        let mut sent = 0;
        let mut buf = [0u8; 4096];
        let closed = loop {
            assert!(
                began.elapsed() < Duration::from_secs(5),
                "{model}: still open after {sent} bytes of the record"
            );
            // Never the whole record.
            if sent < record.len() - 1 && sock.write_all(&record[sent..=sent]).is_err() {
                break began.elapsed();
            }
            sent += 1;
            // What the server sent (its tickets, then perhaps a close_notify) until it closes;
            // the read waits the 100 ms between bytes.
            match sock.read(&mut buf) {
                Ok(0) => break began.elapsed(),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break began.elapsed(),
                Err(_) => {}
            }
        };
        assert!(
            closed >= Duration::from_millis(290) && closed < Duration::from_millis(1_500),
            "{model}: closed {closed:?} after the record began ({sent} bytes of it sent)"
        );
        // The real client is served on.
        echo(&mut real, 2, b"still served");
        drop((real, trickler));
        let c = server.stop_and_count();
        c.expect(
            &[
                ("closed_read_timeout", 1),
                ("closed_tls_handshake_timeout", 0),
                ("closed_idle_timeout", 0),
                ("tls_handshakes_full", 2),
                ("errors_tls_handshake", 0),
            ],
            model,
        );
    }
}

#[test]
fn garbage_or_a_refused_certificate_fails_one_handshake_and_the_server_serves_on() {
    let certs = Certs::new();
    let config = client_config(&certs.ca);
    for model in MODELS {
        let server = tls_server(&certs, model, &[]);
        // Plain HTTP where a ClientHello belongs: an alert, then the close.
        let mut plain = TcpStream::connect(server.addr).unwrap();
        plain
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let (sent, closed) = until_closed(&mut plain, Instant::now(), Duration::from_secs(5));
        assert!(closed.is_some(), "{model}: the connection was closed");
        assert_eq!(sent.first(), Some(&0x15), "{model}: a TLS alert: {sent:?}");
        // curl without the test CA refuses the certificate, and tells the server so.
        let url = format!("https://127.0.0.1:{}/", server.addr.port());
        let out = Command::new("curl").args(["-sS", &url]).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(60),
            "{model}: curl's certificate error"
        );
        // The server goes on.
        let mut real = connect(server.addr, &config);
        echo(&mut real, 1, b"after the garbage");
        drop(real);
        let c = server.stop_and_count();
        c.expect(
            &[
                ("errors_tls_handshake", 2),
                ("errors_io", 0),
                ("tls_handshakes_full", 1),
            ],
            model,
        );
    }
}

#[test]
fn tls_clients_that_never_read_cannot_push_memory_past_the_budget() {
    const CONNS: usize = 100;
    let certs = Certs::new();
    let config = client_config(&certs.ca);
    // As in hostile.rs: more 4 MiB replies than the kernel's socket buffers can hold, asked
    // in one read's worth of requests, and never read.
    let (asks, ask) = never_read_asks();
    for model in MODELS {
        let server = tls_server(&certs, model, &NEVER_READING_FLAGS);
        let pid = server.child.id();
        let before = rss_kib(pid);
        let greedy: Vec<_> = (0..CONNS)
            .map(|_| {
                let mut tls = connect(server.addr, &config);
                tls.write_all(&ask).unwrap();
                tls.flush().unwrap();
                tls
            })
            .collect();
        wait_for_stats(server.addr, &config, "every ask read", |s| {
            get(s, "bytes_in") >= CONNS as u64 * u64::from(asks) * HEADER_LEN as u64
        });
        // The budget bounds unsent replies and TLS records; besides it each connection has
        // its read buffer and rustls' state (buffers for a record each way: 64 KiB is
        // generous; 11 MiB grown in all pooled, 18 MiB with a thread per connection).
        assert_held_to_the_budget(pid, before, CONNS as u64 * 64, model);
        let mut reader = connect(server.addr, &config);
        echo(&mut reader, 1, b"a client that reads is served");
        drop(reader);
        // Their replies make no progress once their kernel buffers are full: each is closed,
        // by the send timeout, or before it under budget pressure (far over its share and not
        // reading), whichever comes first for it.
        let stalled =
            |s: &[(String, u64)]| get(s, "closed_send_timeout") + get(s, "closed_over_budget");
        wait_for_stats(
            server.addr,
            &config,
            "every never-reading client closed",
            |s| stalled(s) >= CONNS as u64,
        );
        let c = server.stop_and_count();
        let closed = c.get("closed_send_timeout") + c.get("closed_over_budget");
        assert_eq!(closed, CONNS as u64, "{model}");
        drop(greedy);
    }
}

/// Runs nines-server with `args`, which must refuse to start: its stderr, after checking it
/// exited with status 2 without listening.
fn refused(args: &[&std::ffi::OsStr]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nines-server"))
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("nines-server started with {args:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    assert_eq!(stdout, "", "never listening: {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bad_certificate_or_key_is_one_line_at_start() {
    let certs = Certs::new();
    let garbled = certs.dir.join("garbled.pem");
    std::fs::write(&garbled, "not a certificate\n").unwrap();
    let missing = certs.dir.join("missing.pem");
    let (cert, key) = (&certs.server.cert, &certs.server.key);
    let os = |p: &std::path::Path| p.as_os_str().to_owned();
    let flag = |f: &str| std::ffi::OsString::from(f);
    let cases: Vec<(Vec<std::ffi::OsString>, &str, &str)> = vec![
        (
            vec![flag("--tls-cert"), os(&missing), flag("--tls-key"), os(key)],
            "--tls-cert",
            "No such file",
        ),
        (
            vec![flag("--tls-cert"), os(&garbled), flag("--tls-key"), os(key)],
            "--tls-cert",
            "no PEM certificate",
        ),
        (
            vec![
                flag("--tls-cert"),
                os(cert),
                flag("--tls-key"),
                os(&garbled),
            ],
            "--tls-key",
            "no PEM private key",
        ),
        (
            // Another certificate's key.
            vec![
                flag("--tls-cert"),
                os(cert),
                flag("--tls-key"),
                os(&certs.client.key),
            ],
            "--tls-key",
            "is not the private key of the certificate",
        ),
        (vec![flag("--tls-cert"), os(cert)], "--tls-key", "missing"),
        (vec![flag("--tls-key"), os(key)], "--tls-cert", "missing"),
    ];
    for (args, names, says) in cases {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let err = refused(&args);
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
        assert!(
            err.starts_with(&format!("error: {names} ")) && err.contains(says),
            "{args:?}: {err:?}"
        );
    }
}
