//! A handshake storm: `nines storm` over TLS against nines-server with `--tls-cert`, every
//! connection a full handshake (`--no-tls-resume`) and then with resumption, with zero failures;
//! the handshakes the driver counts, full and resumed, are the ones the server counts.

mod util;

use serde_json::Value;
use util::certs::Certs;
use util::server::{counter, server, stop_srv, storm};

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Storms `addr` over TLS with `extra` flags; the report, checked to have held every connection
/// and echoed every message with no error.
fn tls_storm(tag: &str, addr: std::net::SocketAddr, certs: &Certs, extra: &[&str]) -> Value {
    let mut args: Vec<String> = [
        &addr.to_string(),
        "--tls",
        "--cacert",
        certs.ca.to_str().unwrap(),
        "-c",
        "600",
        "--connect-rate",
        "1500",
        "--interval",
        "250ms",
        "-d",
        "1s",
        "-t",
        "1",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    args.extend(extra.iter().map(ToString::to_string));
    let (code, r) = storm(tag, &args, "");
    assert_eq!(code, 0, "{tag}: {r}");
    assert_eq!(n(&r["errors"]), 0, "{tag}: {}", r["errors_by_kind"]);
    assert_eq!(n(&r["load"]["connected"]), 600, "{tag}: {}", r["load"]);
    assert_eq!(n(&r["requests"]), n(&r["driver"]["requests_sent"]), "{tag}");
    let t = &r["tls"];
    assert_eq!(n(&t["handshakes"]), 600, "{tag}: {t}");
    assert!(t["handshakes_per_s"].as_f64().unwrap() > 0.0, "{tag}: {t}");
    for h in ["handshake_us", "tcp_connect_us"] {
        assert!(t[h]["p99"].as_f64().unwrap() > 0.0, "{tag}: {h}: {t}");
    }
    assert!(
        t["driver_cpu_per_handshake_us"].as_f64().unwrap() > 0.0,
        "{t}"
    );
    r
}

#[test]
fn a_storm_of_full_handshakes_then_resumed_ones_with_zero_failures() {
    let certs = Certs::new();
    let (cert, key) = (
        certs.server.cert.to_str().unwrap(),
        certs.server.key.to_str().unwrap(),
    );
    let tls = ["--tls-cert", cert, "--tls-key", key];
    let (srv, addr) = server(&[&["--workers", "1"][..], &tls].concat(), "");
    let r = tls_storm("full", addr, &certs, &["--no-tls-resume"]);
    assert_eq!(n(&r["tls"]["full"]), 600, "{}", r["tls"]);
    assert_eq!(n(&r["tls"]["resumed"]), 0);
    // A local server's CPU is measured, so a handshake's cost on its side is known too.
    assert!(
        r["tls"]["server_cpu_per_handshake_us"].as_f64().unwrap() > 0.0,
        "{}",
        r["tls"]
    );
    let stopped = stop_srv(srv);
    // The server counts the same handshakes, and the one the driver made first to check the
    // certificate before any load.
    assert_eq!(counter(&stopped, "tls_handshakes_full"), 601, "{stopped}");
    assert_eq!(counter(&stopped, "tls_handshakes_resumed"), 0, "{stopped}");
    assert_eq!(counter(&stopped, "errors_tls_handshake"), 0, "{stopped}");

    // With resumption (the default), connections after the first take the tickets earlier
    // ones were given: echo this time.
    let (srv, addr) = server(
        &[&["--workers", "1", "--protocol", "echo"][..], &tls].concat(),
        "",
    );
    let r = tls_storm("resumed", addr, &certs, &["--protocol", "echo"]);
    let resumed = n(&r["tls"]["resumed"]);
    assert!(resumed >= 300, "most connections resume: {}", r["tls"]);
    let stopped = stop_srv(srv);
    assert_eq!(
        counter(&stopped, "tls_handshakes_resumed"),
        resumed,
        "{stopped}"
    );
    assert_eq!(
        counter(&stopped, "tls_handshakes_full"),
        n(&r["tls"]["full"]) + 1,
        "{stopped}"
    );
}
