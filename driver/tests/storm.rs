//! `nines storm` against real servers: 2,000 connections with every message echoed; a storm
//! past the descriptor limit refused up front, or reported (not crashed) when it binds anyway;
//! and storms spread over processes on both sides, with a server process killed mid-storm, restarted by its supervisor and the lost
//! connections reported.

mod util;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use util::scratch;
use util::server::{counter, server, stop_srv, storm};

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

#[test]
fn two_thousand_connections_hold_and_every_message_is_echoed() {
    let (srv, addr) = server(&["--workers", "1"], "");
    let report_dir = scratch("storm").join("report");
    let args: Vec<String> = [
        &addr.to_string(),
        "--report",
        report_dir.to_str().unwrap(),
        "-c",
        "2000",
        "--connect-rate",
        "4000",
        "--interval",
        "500ms",
        "-d",
        "2s",
        "-t",
        "1",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let (code, r) = storm("2000", &args, "");
    let st = &r["load"];
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        (
            n(&st["started"]),
            n(&st["connected"]),
            n(&st["open_at_end"])
        ),
        (2000, 2000, 2000),
        "{st}"
    );
    assert_eq!(n(&r["errors"]), 0, "{}", r["errors_by_kind"]);
    let sent = n(&r["driver"]["requests_sent"]);
    assert_eq!(n(&r["requests"]), sent, "every message echoed");
    assert!(
        sent >= 2000 * 4,
        "each connection sent every 500 ms for 2 s: {sent}"
    );
    // The diagnosis judges a storm by its schedule: every connection held, every message
    // echoed (unless the driver itself ran late on a busy machine, which it then says).
    let diagnosis = r["diagnosis"].as_array().unwrap();
    let served = diagnosis.iter().any(|l| {
        l["kind"] == "none_below_offered_load"
            && l["evidence"]
                .as_str()
                .unwrap()
                .contains("2,000 of 2,000 connections held to the end")
    });
    let driver_late = diagnosis.iter().any(|l| l["kind"] == "driver");
    assert!(served || driver_late, "{diagnosis:?}");
    assert!(st["connect_time_us"]["p99"].as_f64().unwrap() > 0.0);
    assert!(
        n(&st["server_memory"]["rss_holding_kib"]) > 0,
        "the server was found by its port: {st}"
    );
    assert!(st["crashes"].as_array().unwrap().is_empty());
    let p = util::svg::read(&report_dir.join("storm.svg"));
    for text in [
        "Connections and echo p99",
        "connections open",
        "echo p99 (µs)",
        "seconds into the storm",
        "2,000",
    ] {
        assert!(p.says(text), "storm plot lacks {text:?}: {:?}", p.texts);
    }
    assert!(
        p.line(util::svg::BLUE) >= 2 && p.line(util::svg::RED) >= 2,
        "connections and echo p99 over the seconds: {p:?}"
    );
    let stopped = stop_srv(srv);
    assert_eq!(
        counter(&stopped, "connections_accepted"),
        2001,
        "the storm's and the reachability check's"
    );
}

#[test]
fn a_storm_past_the_descriptor_limit_is_refused_up_front_or_reported_on_both_sides() {
    let (srv, addr) = server(&["--workers", "1"], "");
    let args = |c: &str| -> Vec<String> {
        [
            &addr.to_string(),
            "-c",
            c,
            "--connect-rate",
            "3000",
            "-d",
            "1s",
            "-t",
            "1",
        ]
        .iter()
        .map(ToString::to_string)
        .collect()
    };
    // Asked for more than one process may open: refused before a connection is made, with the
    // way out named.
    let cmd = format!(
        "ulimit -n 300; exec {} storm {}",
        env!("CARGO_BIN_EXE_nines"),
        args("600").join(" ")
    );
    let out = Command::new("sh").args(["-c", &cmd]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--connections 600 is out of range: allowed 1 to 234")
            && err.contains("--processes 3"),
        "{err}"
    );
    // Within the limit, but descriptors it inherited count too: the driver may open 300 and
    // holds 120 already (opened by the shell that starts it), so the rest of its 230
    // connections fail with EMFILE.
    let json = scratch("storm").join("driver-limit.json");
    let script = format!(
        r#"ulimit -n 300 && for fd in $(seq 10 129); do eval "exec $fd</dev/null"; done && exec {} storm -q --json {} {}"#,
        env!("CARGO_BIN_EXE_nines"),
        json.display(),
        args("230").join(" ")
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap_or_default())
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    let st = &r["load"];
    assert_eq!(n(&st["started"]), 230, "{st}");
    let emfile = n(&r["driver"]["connect_failures"]["EMFILE"]);
    assert!(
        emfile >= 40,
        "the driver's own limit is reported by errno: {}",
        r["driver"]
    );
    assert_eq!(
        n(&st["connected"]) + emfile,
        230,
        "every connection connected or failed with a reason"
    );
    assert_eq!(
        n(&st["open_at_end"]),
        n(&st["connected"]),
        "the ones that connected were held"
    );
    stop_srv(srv);
    // The server may hold 200: it closes what it cannot hold, and says so; the driver reports
    // those connections lost.
    let (srv, addr) = server(&["--workers", "1", "--max-connections", "200"], "");
    let args: Vec<String> = [
        &addr.to_string(),
        "-c",
        "400",
        "--connect-rate",
        "3000",
        "-d",
        "1s",
        "-t",
        "1",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let (_, r) = storm("server-limit", &args, "");
    assert!(
        n(&r["driver"]["connections_lost"]) >= 150,
        "{}",
        r["driver"]
    );
    assert!(n(&r["load"]["open_at_end"]) <= 200, "{}", r["load"]);
    let stopped = stop_srv(srv);
    assert!(
        counter(&stopped, "refused_max_connections") + counter(&stopped, "evicted_idle") >= 150,
        "{stopped}"
    );
}

/// Established TCP connections whose local port is `port` (the server's side of each), from
/// /proc/net/tcp and tcp6.
fn established(port: u16) -> usize {
    let hex = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .map(|t| std::fs::read_to_string(t).unwrap_or_default())
        .map(|text| {
            text.lines()
                .skip(1)
                .filter(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    f.get(1).is_some_and(|a| a.ends_with(&hex)) && f.get(3) == Some(&"01")
                })
                .count()
        })
        .sum()
}

#[test]
fn storms_over_processes_on_both_sides_survive_a_killed_server_process() {
    let (srv, addr) = server(&["--workers", "1", "--processes", "2"], "");
    let args: Vec<String> = [
        &addr.to_string(),
        "-c",
        "1000",
        "--connect-rate",
        "2000",
        "-d",
        "3s",
        "-t",
        "1",
        "--processes",
        "2",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let killer = std::thread::spawn(move || {
        // Once every connection is open, kill one server process.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while established(addr.port()) < 1000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the storm never held 1,000"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let pids = nines_driver::host::server_pids(addr);
        assert_eq!(pids.len(), 2, "2 server processes hold the port: {pids:?}");
        let child = *pids.iter().max().unwrap();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    });
    let (_, r) = storm("processes", &args, "");
    killer.join().unwrap();
    let st = &r["load"];
    assert_eq!(r["origin"], "merged");
    assert_eq!(
        r["parts"].as_array().map(Vec::len),
        Some(2),
        "two driver processes merged"
    );
    assert_eq!(n(&st["connected"]), 1000, "{st}");
    let lost = n(&r["driver"]["connections_lost"]);
    assert!(
        (200..=800).contains(&lost),
        "about half the connections went with the process: {lost}"
    );
    assert!(
        !st["crashes"].as_array().unwrap().is_empty(),
        "a crash was seen: {st}"
    );
    // The send lag is merged from the parts' histograms, not taken from one part.
    assert!(
        r["histograms"]["schedule_lag"].is_string(),
        "{}",
        r["histograms"]
    );
    assert!(st["send_lag_us"]["p99"].as_f64().unwrap() > 0.0, "{st}");
    // The merged report's diagnosis names the lost connections and the crash.
    let d = r["diagnosis"].as_array().unwrap();
    assert!(
        d.iter().any(|l| l["kind"] == "connections"
            && l["evidence"].as_str().unwrap().contains("lost at once")),
        "{d:?}"
    );
    let stopped = stop_srv(srv);
    assert_eq!(counter(&stopped, "restarts"), 1, "{stopped}");
}

#[test]
fn a_websocket_storm_counts_the_handshake_in_its_connect_time() {
    let (srv, addr) = server(&["--workers", "1", "--protocol", "ws"], "");
    let args: Vec<String> = [
        &format!("ws://{addr}/chat"),
        "-c",
        "300",
        "--connect-rate",
        "3000",
        "--interval",
        "200ms",
        "-d",
        "1s",
        "-t",
        "1",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let mut args = args;
    args.extend([
        "--slo".to_string(),
        "'errors<=0,p99<=60s'".to_string(),
        "--allow-invalid".to_string(),
    ]);
    let (code, r) = storm("ws", &args, "");
    assert_eq!(r["slo"]["pass"], true, "{}", r["slo"]);
    let st = &r["load"];
    assert_eq!(code, 0, "{r}");
    assert_eq!(n(&st["connected"]), 300, "{st}");
    assert_eq!(n(&r["errors"]), 0, "{}", r["errors_by_kind"]);
    assert_eq!(n(&r["requests"]), n(&r["driver"]["requests_sent"]));
    assert!(n(&r["requests"]) >= 300 * 5);
    let stopped = stop_srv(srv);
    assert_eq!(counter(&stopped, "errors_bad_ws"), 0, "{stopped}");
}
