//! nines over TLS against servers it did not write, started by the tests on free loopback
//! ports: nginx with `ssl` (https://), redis-server on its TLS port (rediss://, with and without
//! client certificates) and python3-websockets over wss://, each with certificates made at test
//! time. Every verification failure of each kind, and servers that stall mid-handshake, answer
//! with garbage or in plain text, give one line naming what failed and exit 1. The handshake is
//! measured apart from the TCP connect, and resumed handshakes are counted apart from full ones.

mod util;

use std::process::Output;

use serde_json::Value;
use util::certs::Certs;
use util::hostile_tls::{Hostile, HostileTls};
use util::tls_peers::{nginx_tls, wss_echo, RedisTls, ServerTls, NGINX_STATIC_PATH};
use util::{nines, scratch};

/// `nines bench ARGS -t 1 -w 0s -q --json FILE`: its output and report (`Null` when none).
fn bench(tag: &str, args: &[&str]) -> (Output, Value) {
    let json = scratch("tls").join(format!("{tag}.json"));
    let _ = std::fs::remove_file(&json);
    let path = json.to_str().unwrap().to_string();
    let mut all = vec!["bench", "-t", "1", "-w", "0s", "-q", "--json", &path];
    all.extend_from_slice(args);
    let out = nines(&all);
    let report = std::fs::read(&json)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    (out, report)
}

/// [`bench`] of `url`, verifying with the test CA.
fn bench_ca(tag: &str, url: &str, certs: &Certs, args: &[&str]) -> (Output, Value) {
    let mut all = vec![url, "--cacert", certs.ca.to_str().unwrap()];
    all.extend_from_slice(args);
    bench(tag, &all)
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A run that answered everything it sent, over TLS.
fn clean(tag: &str, out: &Output, r: &Value) {
    assert_eq!(out.status.code(), Some(0), "{tag}: {}", stderr(out));
    assert_eq!(n(&r["errors"]), 0, "{tag}: {}", r["errors_by_kind"]);
    assert!(n(&r["requests"]) > 0, "{tag}: nothing answered");
    assert!(r["tls"].is_object(), "{tag}: no tls section: {r}");
}

/// A run refused before any load for a TLS reason: exit 1 and one line saying `what`.
fn refused(tag: &str, out: &Output, what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{tag}: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{tag}: one line, not {lines:?}");
    assert!(
        lines[0].contains("TLS") && lines[0].contains(what),
        "{tag}: `{what}` in {lines:?}"
    );
}

#[test]
fn https_against_nginx_is_verified_measured_and_resumes_on_reconnect() {
    let certs = Certs::new();
    let nginx = nginx_tls(&scratch("nginx-tls"), &ServerTls::new(&certs));
    let url = format!("https://{}/", nginx.addr);
    let ca = certs.ca.to_str().unwrap();
    // nginx closes a connection after 1,000 requests: 2 connections x 1,500 reconnect, and the
    // new connections resume the sessions of the old.
    let (out, r) = bench("resume", &[&url, "--cacert", ca, "-c", "2", "-n", "3000"]);
    clean("resume", &out, &r);
    let t = &r["tls"];
    assert_eq!(t["insecure"], false);
    assert!(t["version"]
        .as_str()
        .is_some_and(|v| v.starts_with("TLSv1")));
    assert_eq!(n(&t["handshakes"]), n(&t["full"]) + n(&t["resumed"]));
    let reconnects = n(&r["driver"]["reconnects"]);
    assert!(reconnects >= 2, "{}", r["driver"]);
    assert_eq!(n(&t["handshakes"]), 2 + reconnects, "{t}");
    assert!(n(&t["resumed"]) >= 1, "reconnects resume: {t}");
    for h in ["handshake_us", "tcp_connect_us"] {
        assert!(t[h]["p99"].as_f64().unwrap() > 0.0, "{h}: {t}");
    }
    assert!(r["target"].as_str().unwrap().starts_with("https://"));
    // Every full handshake when resumption is off.
    let (out, r) = bench(
        "full",
        &[
            &url,
            "--cacert",
            ca,
            "-c",
            "2",
            "-n",
            "3000",
            "--no-tls-resume",
        ],
    );
    clean("full", &out, &r);
    assert_eq!(n(&r["tls"]["resumed"]), 0, "{}", r["tls"]);
    assert_eq!(r["tls"]["resume"], false);
    assert!(n(&r["tls"]["full"]) >= 4, "{}", r["tls"]);
    // The text summary says it too.
    let text = util::ok(&[
        "bench", &url, "--cacert", ca, "-c", "1", "-n", "200", "-w", "0s",
    ]);
    assert!(text.contains("certificate verified"), "{text}");
    let log = nginx.stop_and_count();
    assert!(log.get("200").copied().unwrap_or(0) >= 6_200, "{log:?}");
}

#[test]
fn a_large_body_over_tls_arrives_whole_in_large_reads() {
    let certs = Certs::new();
    let dir = scratch("nginx-tls-large");
    let nginx = nginx_tls(&dir, &ServerTls::new(&certs));
    // 3 MiB: many TLS records per response, more than one socket buffer.
    let big: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    std::fs::write(dir.join("html/static/big.bin"), &big).unwrap();
    let url = format!("https://{}/static/big.bin", nginx.addr);
    let (out, r) = bench_ca("large", &url, &certs, &["-c", "2", "-n", "40"]);
    clean("large", &out, &r);
    assert_eq!(n(&r["requests"]), 40);
    assert!(
        n(&r["transfer"]["received_bytes"]) >= 40 * (3 << 20),
        "{}",
        r["transfer"]
    );
    assert_eq!(nginx.stop_and_count().get("200").copied(), Some(40));
}

#[test]
fn a_certificate_gone_bad_mid_run_is_counted_by_kind_and_the_run_kept() {
    let certs = Certs::new();
    let dir = scratch("nginx-tls-swap");
    std::fs::create_dir_all(&dir).unwrap();
    // nginx reads a certificate whose path names a variable at every handshake (nginx 1.15.9
    // and later): with no SNI (the run connects to an IP) `$ssl_server_name` is empty, so it
    // serves live.pem, and the test puts the expired one in its place mid-run, no reload.
    // Certificate and key in one file, so one rename swaps both.
    let mut tls = ServerTls::new(&certs);
    tls.cert = dir.join("live$ssl_server_name.pem");
    tls.key = tls.cert.clone();
    let live = dir.join("live.pem");
    let both = |pem: &util::certs::Pem| {
        let tmp = dir.join("next.pem");
        let mut text = std::fs::read_to_string(&pem.cert).unwrap();
        text.push_str(&std::fs::read_to_string(&pem.key).unwrap());
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &live).unwrap();
    };
    both(&certs.server);
    let nginx = nginx_tls(&dir, &tls);
    let url = format!("https://{}{NGINX_STATIC_PATH}", nginx.addr);
    let json = scratch("tls").join("swap.json");
    let _ = std::fs::remove_file(&json);
    // 1,500 req/s over 2 connections: nginx closes each after 1,000 requests, saying so, and
    // the driver connects again, about every 1.3 s.
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["bench", &url, "--cacert", certs.ca.to_str().unwrap()])
        .args([
            "-t", "1", "-c", "2", "-R", "1500", "-d", "4s", "-w", "0s", "-q",
        ])
        .arg("--no-tls-resume")
        .arg("--json")
        .arg(&json)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    both(&certs.expired);
    let out = run.wait_with_output().unwrap();
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let kinds = &r["errors_by_kind"];
    assert!(
        n(&kinds["tls_certificate"]) >= 1,
        "{kinds}; {}",
        stderr(&out)
    );
    assert!(
        n(&r["requests"]) >= 1_000,
        "what was measured is kept: {}",
        r["requests"]
    );
    let failure = r["tls"]["first_failure"].as_str().unwrap_or_default();
    assert!(failure.contains("expired"), "{}", r["tls"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn versions_can_be_pinned_and_a_mismatch_is_one_line() {
    let certs = Certs::new();
    let ca = certs.ca.to_str().unwrap();
    let both = nginx_tls(&scratch("nginx-tls-v"), &ServerTls::new(&certs));
    let url = format!("https://{}/", both.addr);
    for (flag, named) in [("1.2", "TLSv1_2"), ("1.3", "TLSv1_3")] {
        let (out, r) = bench(
            flag,
            &[&url, "--cacert", ca, "--tls-version", flag, "-n", "50"],
        );
        clean(flag, &out, &r);
        assert_eq!(r["tls"]["version"], named);
        assert_eq!(r["manifest"]["config"]["tls"]["version"], flag);
    }
    let only12 = nginx_tls(
        &scratch("nginx-tls-12"),
        &ServerTls::new(&certs).protocols("TLSv1.2"),
    );
    let url = format!("https://{}/", only12.addr);
    let (out, _) = bench("mismatch", &[&url, "--cacert", ca, "--tls-version", "1.3"]);
    refused("mismatch", &out, "--tls-version");
}

#[test]
fn certificates_that_do_not_verify_are_refused_by_kind_and_insecure_says_so() {
    let certs = Certs::new();
    let ca = certs.ca.to_str().unwrap();
    for (tag, pem, what) in [
        ("expired", &certs.expired, "expired"),
        ("wrong-name", &certs.wrong_name, "not for the name"),
        ("self-signed", &certs.self_signed, "--cacert"),
    ] {
        let nginx = nginx_tls(
            &scratch(&format!("nginx-tls-{tag}")),
            &ServerTls::new(&certs).presenting(pem),
        );
        let url = format!("https://{}/", nginx.addr);
        let (out, r) = bench(tag, &[&url, "--cacert", ca, "-n", "10"]);
        refused(tag, &out, what);
        assert!(r.is_null(), "{tag}: nothing was measured, so no report");
        // --insecure takes it, and every output says verification was off.
        let (out, r) = bench(
            &format!("{tag}-insecure"),
            &[&url, "--insecure", "-n", "50"],
        );
        clean(tag, &out, &r);
        assert_eq!(r["tls"]["insecure"], true);
        assert_eq!(r["manifest"]["config"]["tls"]["verify"], "insecure");
        let text = util::ok(&["bench", &url, "--insecure", "-n", "20", "-w", "0s"]);
        assert!(text.contains("NOT VERIFIED (--insecure)"), "{text}");
    }
    // A server signed by a CA the system does not trust, with no --cacert.
    let nginx = nginx_tls(&scratch("nginx-tls-noca"), &ServerTls::new(&certs));
    let (out, _) = bench("no-ca", &[&format!("https://{}/", nginx.addr), "-n", "10"]);
    refused("no-ca", &out, "not signed by a CA nines trusts");
    // --sni names what is verified: the server's certificate is for localhost, not this.
    let url = format!("https://{}/", nginx.addr);
    let (out, _) = bench("sni", &[&url, "--cacert", ca, "--sni", "other.invalid"]);
    refused("sni", &out, "not for the name");
    let (out, r) = bench(
        "sni-ok",
        &[&url, "--cacert", ca, "--sni", "localhost", "-n", "20"],
    );
    clean("sni-ok", &out, &r);
}

#[test]
fn hostile_servers_are_one_line_each_within_the_connect_timeout() {
    for (kind, what) in [
        (Hostile::Stall, "did not finish within"),
        (Hostile::Garbage, "not TLS"),
        (Hostile::PlainHttp, "not TLS"),
    ] {
        let peer = HostileTls::start(kind);
        let url = format!("https://{}/", peer.addr);
        let started = std::time::Instant::now();
        let (out, _) = bench("hostile", &[&url, "--insecure", "--connect-timeout", "1s"]);
        refused(&format!("{kind:?}"), &out, what);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}

#[test]
fn rediss_with_and_without_client_certificates() {
    let certs = Certs::new();
    let ca = certs.ca.to_str().unwrap();
    let redis = RedisTls::start(&ServerTls::new(&certs));
    let url = format!("rediss://{}", redis.addr);
    let before = redis.commands_processed(None);
    let (out, r) = bench("rediss", &[&url, "--cacert", ca, "-c", "2", "-n", "2000"]);
    clean("rediss", &out, &r);
    assert_eq!(
        n(&r["driver"]["reply_kinds"]["status"]),
        2000,
        "{}",
        r["driver"]
    );
    assert!(redis.commands_processed(None) >= before + 2000);

    let mutual = RedisTls::start(&ServerTls::new(&certs).client_auth());
    let url = format!("rediss://{}", mutual.addr);
    let (cert, key) = (
        certs.client.cert.to_str().unwrap(),
        certs.client.key.to_str().unwrap(),
    );
    let (out, r) = bench(
        "mutual",
        &[
            &url, "--cacert", ca, "--cert", cert, "--key", key, "-n", "500",
        ],
    );
    clean("mutual", &out, &r);
    // Without a certificate the server refuses it (in TLS 1.3 with an alert after the client's
    // side of the handshake is done, which the probe waits for): a clear line, exit 1.
    let (out, _) = bench("no-client-cert", &[&url, "--cacert", ca, "-n", "10"]);
    refused("no-client-cert", &out, "--cert FILE --key FILE");
}

#[test]
fn wss_against_python_websockets() {
    let certs = Certs::new();
    let echo = wss_echo(&ServerTls::new(&certs));
    let url = format!("wss://localhost:{}/", echo.addr.port());
    let (out, r) = bench_ca("wss", &url, &certs, &["-c", "2", "-n", "500"]);
    clean("wss", &out, &r);
    assert_eq!(n(&r["tls"]["handshakes"]), 2);
    assert!(echo.stop_and_count() >= 500);
}

#[test]
fn tls_flags_refuse_a_plain_target_with_one_line() {
    for args in [
        vec!["http://127.0.0.1:9/", "--insecure"],
        vec!["http://127.0.0.1:9/", "--tls"],
        vec!["--tls"],
        vec!["https://127.0.0.1:9/", "--insecure", "--cacert", "x.pem"],
    ] {
        let mut all = vec!["bench"];
        all.extend(args.iter().copied());
        let out = nines(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out).lines().count(),
            1,
            "{args:?}: {}",
            stderr(&out)
        );
    }
}
