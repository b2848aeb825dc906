//! The TLS peers the driver's TLS tests and scripts/bench-tls.sh stand on, each proved with
//! clients nines did not write: curl and `openssl s_client` against nginx (keep-alive, session
//! resumption under TLS 1.3 and 1.2, mutual TLS, the certificates that must fail), redis-cli
//! against redis-server's TLS port, python3-websockets over wss://, and the hostile peers
//! doing exactly the harm they are named for.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use util::certs::Certs;
use util::hostile_tls::{Hostile, HostileTls, GARBAGE, PLAIN_HTTP};
use util::peers::{need, python, script};
use util::tls_peers::{
    nginx_tls, wss_echo, RedisTls, ServerTls, NGINX_BODY, NGINX_STATIC_BODY, NGINX_STATIC_PATH,
};

/// How long any one client may take: a handshake that hangs fails the test, not the run.
const CLIENT_WITHIN_S: &str = "10";

/// Runs `program ARGS` under timeout(1), `stdin` written to it; fails if it had to be killed.
fn run(program: &str, package: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new("timeout")
        .arg(CLIENT_WITHIN_S)
        .arg(need(program, package))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_ne!(
        out.status.code(),
        Some(124),
        "{program} {args:?} did not finish within {CLIENT_WITHIN_S} s"
    );
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn curl(args: &[&str]) -> Output {
    run("curl", "curl", &[&["-sS"], args].concat(), b"")
}

/// The HTTP status curl got with `args` ("000" when it got none).
fn http_status(args: &[&str]) -> String {
    let out = curl(&[&["-o", "/dev/null", "-w", "%{http_code}"], args].concat());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `openssl s_client` to `addr`, verifying with `ca` (failing on any verification error),
/// `extra` flags after; `stdin` is what it sends once connected (it exits at its end).
fn s_client(addr: SocketAddr, ca: &Path, extra: &[&str], stdin: &[u8]) -> Output {
    let connect = addr.to_string();
    let ca = ca.to_str().unwrap();
    let args = [
        &["s_client", "-connect", &connect, "-servername", "localhost"][..],
        &["-CAfile", ca, "-verify_return_error"],
        extra,
    ]
    .concat();
    run("openssl", "openssl", &args, stdin)
}

/// An HTTP request that makes s_client read until nginx closes: by then any TLS 1.3 session
/// ticket (sent after the handshake) has arrived, so -sess_out has something to resume.
const GET_AND_CLOSE: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

#[test]
fn nginx_tls_answers_curl_over_one_kept_alive_connection() {
    let certs = Certs::new();
    let nginx = nginx_tls(&certs.dir.join("nginx"), &ServerTls::new(&certs));
    let ca = certs.ca.to_str().unwrap();
    let root = format!("https://{}/", nginx.addr);
    let file = format!("https://{}{NGINX_STATIC_PATH}", nginx.addr);
    // One curl, two URLs: the second must ride the first one's connection (no new connect).
    let out = curl(&[
        "--cacert",
        ca,
        "-w",
        "%{http_code} %{num_connects} %{ssl_verify_result}\n",
        &root,
        &file,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{NGINX_BODY}200 1 0\n{NGINX_STATIC_BODY}200 0 0\n")
    );
    // Without the test CA the same certificate does not verify (curl: 60).
    let out = curl(&[&root]);
    assert_eq!(out.status.code(), Some(60), "{}", text(&out));
    let missing = format!("https://{}/missing", nginx.addr);
    assert_eq!(http_status(&["--cacert", ca, &missing]), "404");
    let log = nginx.stop_and_count();
    let expected = [("200".to_string(), 2), ("404".to_string(), 1)];
    assert_eq!(log, expected.into(), "nginx's access log");
}

#[test]
fn nginx_tls_resumes_sessions_under_tls13_and_tls12() {
    let certs = Certs::new();
    for (version, allowed) in [("TLSv1.3", None), ("TLSv1.2", Some("TLSv1.2"))] {
        let mut tls = ServerTls::new(&certs);
        if let Some(v) = allowed {
            tls = tls.protocols(v);
        }
        let nginx = nginx_tls(&certs.dir.join(format!("nginx-{version}")), &tls);
        let session = certs.dir.join(format!("session-{version}.pem"));
        let session = session.to_str().unwrap();
        // -sess_out keeps the first connection's session, -sess_in offers it to the second.
        let connect = |session_flag: &str| {
            let args = ["-ign_eof", session_flag, session];
            let out = s_client(nginx.addr, &certs.ca, &args, GET_AND_CLOSE);
            let said = text(&out);
            assert!(out.status.success(), "{version}: {said}");
            assert!(said.contains("Verify return code: 0 (ok)"), "{said}");
            assert!(said.contains("HTTP/1.1 200 OK"), "{said}");
            said
        };
        let first = connect("-sess_out");
        assert!(first.contains(&format!("New, {version}")), "{first}");
        let second = connect("-sess_in");
        assert!(second.contains(&format!("Reused, {version}")), "{second}");
        if allowed.is_some() {
            // ssl_protocols holds: a client that speaks 1.3 only is refused.
            let refused = s_client(nginx.addr, &certs.ca, &["-tls1_3"], b"");
            assert!(!refused.status.success(), "{}", text(&refused));
        }
        let log = nginx.stop_and_count();
        assert_eq!(log.get("200").copied(), Some(2), "{version}: {log:?}");
    }
}

#[test]
fn nginx_tls_with_client_auth_answers_only_clients_with_a_certificate() {
    let certs = Certs::new();
    let nginx = nginx_tls(
        &certs.dir.join("nginx"),
        &ServerTls::new(&certs).client_auth(),
    );
    let url = format!("https://{}/", nginx.addr);
    let ca = certs.ca.to_str().unwrap();
    let status = |extra: &[&str]| http_status(&[&["--cacert", ca, &url], extra].concat());
    // nginx refuses a certificate-less client in HTTP (400), after the handshake.
    assert_eq!(status(&[]), "400");
    let (cert, key) = (&certs.client.cert, &certs.client.key);
    assert_eq!(
        status(&[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap()
        ]),
        "200"
    );
}

#[test]
fn nginx_tls_presents_the_certificate_it_is_given_and_curl_refuses_the_bad_ones() {
    let certs = Certs::new();
    for (name, pem) in [
        ("expired", &certs.expired),
        ("wrong-name", &certs.wrong_name),
        ("self-signed", &certs.self_signed),
    ] {
        let tls = ServerTls::new(&certs).presenting(pem);
        let nginx = nginx_tls(&certs.dir.join(format!("nginx-{name}")), &tls);
        let url = format!("https://{}/", nginx.addr);
        let out = curl(&["--cacert", certs.ca.to_str().unwrap(), &url]);
        // 60: the peer's certificate could not be authenticated.
        assert_eq!(out.status.code(), Some(60), "{name}: {}", text(&out));
        // Unverified, the same server answers: the failure is the certificate's alone.
        let out = curl(&["--insecure", &url]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), NGINX_BODY, "{name}");
    }
}

#[test]
fn redis_tls_answers_redis_cli_on_its_tls_port_only() {
    let certs = Certs::new();
    let redis = RedisTls::start(&ServerTls::new(&certs));
    let out = redis.cli(None, &["PING"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "PONG\n",
        "{}",
        text(&out)
    );
    // The PING (an INFO counts itself after it answers).
    assert_eq!(redis.commands_processed(None), 1);
    // Plain RESP on the TLS port gets no reply: the port speaks TLS.
    let mut plain = TcpStream::connect(redis.addr).unwrap();
    plain.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(!got.starts_with(b"+PONG"), "{got:?}");
}

#[test]
fn redis_tls_with_client_auth_answers_only_clients_with_a_certificate() {
    let certs = Certs::new();
    let redis = RedisTls::start(&ServerTls::new(&certs).client_auth());
    let out = redis.cli(None, &["PING"]);
    assert!(!text(&out).contains("PONG"), "{}", text(&out));
    let out = redis.cli(Some(&certs.client), &["PING"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "PONG\n",
        "{}",
        text(&out)
    );
}

#[test]
fn wss_echo_echoes_every_message_of_a_python_client() {
    let certs = Certs::new();
    let echo = wss_echo(&ServerTls::new(&certs));
    let url = format!("wss://{}/", echo.addr);
    let out = Command::new(python())
        .arg(script("ws_client.py"))
        .args([&url, "20"])
        .arg(&certs.ca)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok 41",
        "{}",
        text(&out)
    );
    // 20 text, 20 binary and one fragmented message, by the server's own count.
    assert_eq!(echo.stop_and_count(), 41);
}

#[test]
fn a_stalling_peer_holds_a_client_mid_handshake_until_it_gives_up() {
    let certs = Certs::new();
    let peer = HostileTls::start(Hostile::Stall);
    let ca = certs.ca.to_str().unwrap();
    let connect = peer.addr.to_string();
    // stdin kept open: s_client would otherwise leave at its end, not for want of an answer.
    let mut client = Command::new(need("openssl", "openssl"))
        .args(["s_client", "-connect", &connect, "-CAfile", ca])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(peer.wait_until(Duration::from_secs(5), |p| p.client_hellos() == 1));
    // The ServerHello never comes: the client is still waiting a while later.
    assert!(!peer.wait_until(Duration::from_millis(300), |_| client
        .try_wait()
        .unwrap()
        .is_some()));
    client.kill().unwrap();
    client.wait().unwrap();
    assert!(peer.wait_until(Duration::from_secs(5), |p| p.closed_by_client() == 1));
    assert_eq!(peer.accepted(), 1);
}

#[test]
fn a_garbage_peer_answers_a_client_hello_with_no_tls_record() {
    let certs = Certs::new();
    let peer = HostileTls::start(Hostile::Garbage);
    let out = s_client(peer.addr, &certs.ca, &[], b"");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("no peer certificate available"),
        "{}",
        text(&out)
    );
    let url = format!("https://{}/", peer.addr);
    let out = curl(&["--cacert", certs.ca.to_str().unwrap(), &url]);
    // 35: the TLS handshake failed.
    assert_eq!(out.status.code(), Some(35), "{}", text(&out));
    assert_eq!(peer.client_hellos(), 2);
    // What it sends, to the byte, and it keeps the connection open after.
    let mut raw = hello(peer.addr);
    let mut got = vec![0; GARBAGE.len()];
    raw.read_exact(&mut got).unwrap();
    assert_eq!(got, GARBAGE);
    raw.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let held = raw.read(&mut [0; 1]).map_err(|e| e.kind());
    assert!(
        matches!(
            held,
            Err(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        ),
        "{held:?}"
    );
}

#[test]
fn a_plain_http_peer_answers_a_client_hello_in_plain_text() {
    let certs = Certs::new();
    let peer = HostileTls::start(Hostile::PlainHttp);
    let url = format!("https://{}/", peer.addr);
    let out = curl(&["--cacert", certs.ca.to_str().unwrap(), &url]);
    assert_eq!(out.status.code(), Some(35), "{}", text(&out));
    // Spoken to in plain HTTP, it is an HTTP server that refuses the request.
    assert_eq!(http_status(&[&url.replace("https", "http")]), "400");
    let mut raw = hello(peer.addr);
    let mut got = Vec::new();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.read_to_end(&mut got).unwrap();
    assert_eq!(got, PLAIN_HTTP, "the reply, then the peer's FIN");
    assert_eq!(peer.client_hellos(), 2);
}

/// A TCP connection to `addr` that has sent the first bytes of a TLS 1.2 ClientHello record.
fn hello(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00])
        .unwrap();
    s
}
