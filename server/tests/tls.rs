//! nines-server over TLS against peers it did not write, each started by the test: curl for
//! HTTPS, `openssl s_client` for echo over TLS 1.2 and 1.3 (and session resumption),
//! python3-websockets for wss, and a rustls client for nines frames — in both server models,
//! with the certificates made at test time (driver/tests/util/certs.rs). Each test also checks
//! the handshakes the server counted, full and resumed; with `--processes`, a client's
//! reconnections resume on whichever process they reach, one restarted since included.

mod util;

#[path = "../../driver/tests/util/certs.rs"]
mod certs;
#[allow(dead_code)] // The driver's peers; these tests need only its python3.
#[path = "../../driver/tests/util/peers.rs"]
mod peers;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use certs::Certs;
use nines_protocol::{Header, Op};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use util::tls::{client_config, connect, echo, round_trip};
use util::{ServerProc, MODELS};

/// nines-server with TLS on the test certificate, serving `protocol` in `model`.
fn tls_server(certs: &Certs, protocol: &str, model: &str) -> ServerProc {
    let server = &certs.server;
    util::tls::start(&server.cert, &server.key, model, &["--protocol", protocol])
}

/// `openssl s_client` to `addr` as `localhost`, trusting the test CA.
fn openssl_s_client(addr: SocketAddr, certs: &Certs) -> Command {
    let mut c = Command::new("openssl");
    c.args(["s_client", "-connect", &addr.to_string(), "-CAfile"])
        .arg(&certs.ca)
        .args(["-servername", "localhost"]);
    c
}

/// `openssl s_client` to `addr` trusting the test CA, with `extra` flags; writes `line` and
/// waits (bounded) for the server to send it back. Returns what it printed on stdout (the
/// echoed bytes; with -brief nothing else) and on stderr (the connection's summary).
fn s_client(addr: SocketAddr, certs: &Certs, extra: &[&str], line: &str) -> (String, String) {
    let mut child = openssl_s_client(addr, certs)
        .arg("-brief")
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client (install openssl)");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
    let echoed = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    // End of input: s_client closes the connection and exits.
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (echoed, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn curl_gets_200_over_https_with_alpn_http_1_1_in_both_models() {
    let certs = Certs::new();
    for model in MODELS {
        let server = tls_server(&certs, "http", model);
        let url = format!("https://127.0.0.1:{}/", server.addr.port());
        let out = Command::new("curl")
            .args([
                "-sS",
                "-v",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--cacert",
            ])
            .arg(&certs.ca)
            .arg(&url)
            .output()
            .expect("curl (install curl)");
        let verbose = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{model}: curl failed: {verbose}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{model}");
        assert!(
            verbose
                .lines()
                .any(|l| l.contains("ALPN") && l.contains("accepted") && l.contains("http/1.1")),
            "{model}: ALPN http/1.1 agreed: {verbose}"
        );
        let c = server.stop_and_count();
        c.expect(
            &[
                ("tls_handshakes_full", 1),
                ("requests", 1),
                ("errors_tls_handshake", 0),
            ],
            model,
        );
    }
}

#[test]
fn openssl_s_client_gets_its_bytes_echoed_over_tls_1_2_and_1_3_in_both_models() {
    let certs = Certs::new();
    for model in MODELS {
        let server = tls_server(&certs, "echo", model);
        for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
            let line = format!("echo me over {version}");
            let (echoed, summary) = s_client(server.addr, &certs, &[flag], &line);
            assert_eq!(echoed, line, "{model} {version}: {summary}");
            assert!(
                summary.contains(&format!("Protocol version: {version}")),
                "{model}: {summary}"
            );
            assert!(summary.contains("Verification: OK"), "{model}: {summary}");
        }
        let c = server.stop_and_count();
        c.expect(
            &[("tls_handshakes_full", 2), ("errors_tls_handshake", 0)],
            model,
        );
    }
}

#[test]
fn python_websockets_gets_its_message_echoed_over_wss_in_both_models() {
    let python = peers::python();
    // websockets 10.4 (Debian's) has only the asyncio client.
    let client = r#"
import asyncio, ssl, sys, websockets
async def main():
    ctx = ssl.create_default_context(cafile=sys.argv[2])
    async with websockets.connect(sys.argv[1], ssl=ctx, compression=None) as ws:
        await ws.send("hello over wss")
        print(await asyncio.wait_for(ws.recv(), 5))
asyncio.run(main())
"#;
    let certs = Certs::new();
    for model in MODELS {
        let server = tls_server(&certs, "ws", model);
        let url = format!("wss://127.0.0.1:{}/", server.addr.port());
        let out = Command::new(&python)
            .args(["-c", client, &url])
            .arg(&certs.ca)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{model}: {err}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello over wss\n");
        let c = server.stop_and_count();
        c.expect(&[("tls_handshakes_full", 1), ("errors_bad_ws", 0)], model);
    }
}

#[test]
fn nines_frames_go_both_ways_over_tls_in_both_models() {
    let certs = Certs::new();
    let config = client_config(&certs.ca);
    for model in MODELS {
        let server = tls_server(&certs, "nines", model);
        let mut tls = connect(server.addr, &config);
        // Pipelined and larger than one TLS record each way.
        let payload: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        for id in 1..=3 {
            echo(&mut tls, id, &payload);
        }
        let source = Header {
            arg: 100_000,
            ..Header::request(Op::Source, 9)
        };
        let (h, bytes) = round_trip(&mut tls, source, &[]);
        assert_eq!((h.request_id, bytes.len()), (9, 100_000), "{model}");
        drop(tls);
        let c = server.stop_and_count();
        c.expect(&[("requests", 4), ("tls_handshakes_full", 1)], model);
    }
}

#[test]
fn a_second_connection_resumes_the_first_ones_session() {
    let certs = Certs::new();
    let config = client_config(&certs.ca);
    let sessions = certs.dir.join("s_client.session");
    let sessions = sessions.to_str().unwrap();
    for model in MODELS {
        let server = tls_server(&certs, "nines", model);
        // TLS 1.2 by openssl: a session id or ticket saved, then offered.
        let (_, first) = s_client(
            server.addr,
            &certs,
            &["-tls1_2", "-sess_out", sessions],
            "x",
        );
        assert!(first.contains("Verification: OK"), "{model}: {first}");
        let out = openssl_s_client(server.addr, &certs)
            .args(["-tls1_2", "-sess_in", sessions])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("Reused, TLSv1.2"), "{model}: {said}");
        // TLS 1.3 by rustls: the first connection's ticket, taken with its reply.
        let mut first = connect(server.addr, &config);
        echo(&mut first, 1, b"first");
        let mut second = connect(server.addr, &config);
        assert_eq!(
            second.conn.handshake_kind(),
            Some(rustls::HandshakeKind::Resumed),
            "{model}"
        );
        echo(&mut second, 2, b"second");
        drop((first, second));
        let c = server.stop_and_count();
        c.expect(
            &[("tls_handshakes_resumed", 2), ("tls_handshakes_full", 2)],
            model,
        );
    }
}

/// A rustls client configuration like `client_config`, at TLS 1.2 only.
fn tls12_config(certs: &Certs) -> std::sync::Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&certs.ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    std::sync::Arc::new(config)
}

#[test]
fn reconnections_spread_over_processes_resume_with_the_ticket_keys_they_share() {
    // The kernel spreads each new connection over the processes by its 4-tuple: with a key per
    // process, about half of these reconnections reached a process that could not open the
    // ticket they offered (each had a new ephemeral port) and became full handshakes.
    const CONNECTIONS: u64 = 20;
    let certs = Certs::new();
    for model in MODELS {
        let server = util::tls::start(
            &certs.server.cert,
            &certs.server.key,
            model,
            &["--processes", "2"],
        );
        // TLS 1.3 (a PSK from a ticket) and TLS 1.2 (a ticket; the session-id cache is per
        // process, and rustls offers a ticket when it has one), each client with a
        // configuration of its own, whose session cache keeps the last tickets.
        for (version, config) in [
            ("TLS 1.3", client_config(&certs.ca)),
            ("TLS 1.2", tls12_config(&certs)),
        ] {
            for id in 1..=CONNECTIONS {
                let mut tls = connect(server.addr, &config);
                // The reply comes after the tickets: they are in the cache once it is read.
                echo(&mut tls, id, b"again");
                let kind = tls.conn.handshake_kind();
                let want = if id == 1 {
                    rustls::HandshakeKind::Full
                } else {
                    rustls::HandshakeKind::Resumed
                };
                assert_eq!(kind, Some(want), "{model}, {version}: connection {id}");
            }
        }
        let c = server.stop_and_count();
        c.expect(
            &[
                ("tls_handshakes_full", 2),
                ("tls_handshakes_resumed", 2 * (CONNECTIONS - 1)),
                ("errors_tls_handshake", 0),
                ("processes", 2),
            ],
            model,
        );
    }
}

/// The processes `pid` has started and not reaped.
fn children(pid: u32) -> Vec<i32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let list = std::fs::read_to_string(task.unwrap().path().join("children")).unwrap();
        out.extend(list.split_whitespace().map(|p| p.parse::<i32>().unwrap()));
    }
    out
}

#[test]
fn processes_the_supervisor_restarts_open_the_tickets_sealed_before() {
    const CONNECTIONS: u64 = 10;
    let certs = Certs::new();
    let config = client_config(&certs.ca);
    let server = util::tls::start(
        &certs.server.cert,
        &certs.server.key,
        MODELS[0],
        &["--processes", "2"],
    );
    let mut first = connect(server.addr, &config);
    echo(&mut first, 1, b"a ticket");
    drop(first);
    let killed = children(server.child.id());
    assert_eq!(killed.len(), 2, "{killed:?}");
    for pid in &killed {
        // SAFETY: kill(2) on a pid read from /proc; no memory is involved.
        assert_eq!(unsafe { libc::kill(*pid, libc::SIGKILL) }, 0);
    }
    // Once the supervisor has reaped both (their listeners closed) and until a restarted
    // process listens, connections are refused: from the first one taken on, every connection
    // reaches a process started after the ticket was sealed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while children(server.child.id())
        .iter()
        .any(|p| killed.contains(p))
    {
        assert!(std::time::Instant::now() < deadline, "not reaped");
        std::thread::sleep(Duration::from_millis(20));
    }
    while std::net::TcpStream::connect(server.addr).is_err() {
        assert!(std::time::Instant::now() < deadline, "no process restarted");
        std::thread::sleep(Duration::from_millis(20));
    }
    for id in 1..=CONNECTIONS {
        let mut tls = connect(server.addr, &config);
        echo(&mut tls, id, b"again");
        let kind = tls.conn.handshake_kind();
        assert_eq!(
            kind,
            Some(rustls::HandshakeKind::Resumed),
            "connection {id}"
        );
    }
    // The killed processes' counters died with them: these are the restarted ones'.
    let c = server.stop_and_count();
    c.expect(
        &[
            ("restarts", 2),
            ("tls_handshakes_full", 0),
            ("tls_handshakes_resumed", CONNECTIONS),
        ],
        "restarted",
    );
}

#[test]
fn a_connection_the_server_closes_ends_with_close_notify_not_a_cut_in_both_models() {
    let certs = Certs::new();
    for model in MODELS {
        let server = tls_server(&certs, "http", model);
        // s_client sends the request and reads until the server ends the connection (which
        // `Connection: close` asks for), and says so if it ends without a close_notify.
        let mut child = openssl_s_client(server.addr, &certs)
            .args(["-brief", "-ign_eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        drop(stdin);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "{model}: the server did not close"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = child.wait_with_output().unwrap();
        let (reply, said) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{model}: {reply}");
        assert!(!said.contains("unexpected eof"), "{model}: {said}");
        let c = server.stop_and_count();
        c.expect(&[("tls_handshakes_full", 1), ("requests", 1)], model);
    }
}
