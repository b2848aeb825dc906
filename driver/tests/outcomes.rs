//! Honest outcomes, tried as a careless user would: every bad flag value is one line and exit 2,
//! a target that never answers ends the run quickly with what was measured, a run without one
//! good reply never exits 0, an overloaded open loop stays small and ends on time, and a
//! descriptor limit that binds anyway is reported by its OS error.

mod util;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::{nines, scratch};

fn temp(name: &str) -> PathBuf {
    scratch("outcomes").join(name)
}

fn json(path: &PathBuf) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("result written")).expect("valid JSON")
}

/// A listener that accepts connections and never reads or writes: a target that never answers.
fn silent_target() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}

/// A target that accepts every connection and holds it open, answering nothing.
fn holding_target() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    addr
}

#[test]
fn every_bad_value_is_one_line_naming_its_flag_and_range_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["-c", "0"],
            "--connections 0 is out of range: allowed 1 to ",
        ),
        (
            &["-t", "0"],
            "--threads 0 is out of range: allowed 1 to 1024",
        ),
        (
            &["-p", "0"],
            "--pipeline 0 is out of range: allowed 1 to 4096",
        ),
        (
            &["--rate", "0"],
            "--rate 0 is out of range: allowed more than 0",
        ),
        (
            &["--rate", "1e12", "-d", "1s"],
            "--rate 1000000000000 is out of range",
        ),
        (
            &["--duration", "0"],
            "--duration 0s is out of range: allowed 1ms to 24h",
        ),
        (
            &["--timeout", "0s"],
            "--timeout 0s is out of range: allowed 1ms to 1m",
        ),
        (
            &["--payload", "8192m"],
            "--payload 8GiB is out of range: allowed 0 to 1,048,536",
        ),
        (
            &["--protocol", "echo", "--payload", "0"],
            "--payload 0 is out of range: allowed 1 to",
        ),
        (
            &["-n", "0"],
            "--requests 0 is out of range: allowed 1 or more",
        ),
        (
            &["--max-errors", "0"],
            "--max-errors 0 is out of range: allowed 1 or more",
        ),
        (
            &["--warmup", "2h"],
            "--warmup 2h is out of range: allowed 0s to 1h",
        ),
        (&["--start-at", "1000"], "--start-at 1000.0 is"),
        (
            &[
                "-c",
                "10000",
                "-p",
                "200",
                "--payload",
                "512k",
                "localhost:1",
            ],
            "in flight",
        ),
        (
            &["--connections", "many"],
            "invalid value 'many' for '--connections",
        ),
        (
            &["--op", "dance"],
            "possible values: echo, work, source, stats",
        ),
    ];
    for (args, want) in cases {
        let started = Instant::now();
        let mut all = vec!["bench"];
        all.extend_from_slice(args);
        let out = nines(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: nothing ran");
        // Refused before anything starts: no 8 GiB buffer, no run to its end.
        assert!(started.elapsed() < Duration::from_secs(2), "{args:?}");
    }
}

#[test]
fn more_connections_than_descriptors_is_refused_with_the_limit_named() {
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    let hard = unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut l), 0);
        l.rlim_max
    };
    let too_many = (hard + 1).to_string();
    let out = nines(&["bench", "127.0.0.1:1", "-c", &too_many]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--connections") && err.contains("ulimit -n"),
        "{err}"
    );
}

#[test]
fn a_target_that_never_answers_ends_within_about_a_second_with_a_partial_result() {
    let (_listener, addr) = silent_target();
    let path = temp("silent.json");
    let started = Instant::now();
    let out = nines(&[
        "bench",
        &addr,
        "--timeout",
        "200ms",
        "--max-errors",
        "5",
        "-d",
        "30s",
        "-q",
        "--json",
        path.to_str().unwrap(),
    ]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    assert!(took < Duration::from_millis(2_500), "took {took:?}");
    let v = json(&path);
    assert_eq!(v["status"], "cut_short");
    assert_eq!(v["cut_short"]["kind"], "error_limit");
    assert!(
        v["errors_by_kind"]["timeout"].as_u64().unwrap() >= 5,
        "{}",
        v["errors_by_kind"]
    );
    assert_eq!(v["requests"], 0);
    assert!(v["latency_us"].is_null(), "no percentiles without replies");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("no replies were measured") && stdout.contains("CUT SHORT"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("p99 0.0"),
        "an empty histogram's zeros are never shown: {stdout}"
    );
}

#[test]
fn drain_timeouts_count_toward_the_error_limit_like_every_other_error() {
    // Nothing times out during the short run (60 s timeout); the requests still unanswered when
    // the 200 ms drain ends are errors, and they reach --max-errors.
    let (_listener, addr) = silent_target();
    let path = temp("drain.json");
    let out = nines(&[
        "bench",
        &addr,
        "--timeout",
        "60s",
        "-d",
        "300ms",
        "-w",
        "0s",
        "--drain-timeout",
        "200ms",
        "--max-errors",
        "3",
        "-c",
        "4",
        "-q",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&path);
    assert_eq!(
        v["errors_by_kind"]["drain_timeout"], 4,
        "{}",
        v["errors_by_kind"]
    );
    assert_eq!(v["cut_short"]["kind"], "error_limit");
}

#[test]
fn a_run_without_one_good_reply_never_exits_0() {
    // nines requests to a byte-echo server come back without the reply flag: all bad payload.
    let echo = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = echo.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in echo.incoming().flatten() {
            std::thread::spawn(move || {
                let (mut r, mut w) = (s.try_clone().unwrap(), s);
                let _ = std::io::copy(&mut r, &mut w);
            });
        }
    });
    let path = temp("bad.json");
    let out = nines(&[
        "bench",
        &addr,
        "-d",
        "500ms",
        "-w",
        "0s",
        "-c",
        "2",
        "--max-errors",
        "1000000000",
        "-q",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&path);
    assert_eq!(v["cut_short"]["kind"], "no_replies");
    assert!(v["errors_by_kind"]["bad_payload"].as_u64().unwrap() > 0);
}

/// Peak resident memory (KiB) of a running process, sampled until it exits.
fn peak_rss_kib(child: &mut std::process::Child) -> u64 {
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(s) = std::fs::read_to_string(&status) {
            let rss = s
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            peak = peak.max(rss);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    peak
}

#[test]
fn an_open_loop_rate_far_past_the_target_stays_small_ends_on_time_and_counts_unsent() {
    // 2,000,000 requests a second against one embedded worker that serves a small fraction of
    // that: the backlog is counted, never stored, and requests unsent for --timeout are errors.
    const OVERLOAD: [&str; 10] = [
        "bench",
        "--rate",
        "2000000",
        "-d",
        "2s",
        "-w",
        "0s",
        "--timeout",
        "300ms",
        "-q",
    ];
    let path = temp("overload.json");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(OVERLOAD)
        .args([
            "--drain-timeout",
            "300ms",
            "--max-errors",
            "1000000000000",
            "--json",
        ])
        .arg(&path)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let peak = peak_rss_kib(&mut child);
    let took = started.elapsed();
    assert!(peak > 0 && peak < 100 * 1024, "driver peak RSS {peak} KiB");
    assert!(took < Duration::from_secs(6), "took {took:?} for a 2 s run");
    let v = json(&path);
    let unsent = v["errors_by_kind"]["unsent"].as_u64().unwrap();
    assert!(unsent > 1_000_000, "{}", v["errors_by_kind"]);
    let kinds: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"unsent_requests") && kinds.contains(&"rate_not_achieved"),
        "{kinds:?}"
    );
    // And with the default --max-errors the same overload stops the run: exit 1, cut short.
    let out = nines(&OVERLOAD);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("error limit reached"));
}

#[test]
fn connects_that_hit_the_descriptor_limit_anyway_are_reported_by_errno() {
    // The driver checks -c against its limit, but descriptors it inherited count too: start it
    // with 100 extra open descriptors (opened by the shell that starts it, so no other test's
    // processes inherit them) and a limit of 300, and ask for 230 connections.
    let addr = holding_target();
    let path = temp("emfile.json");
    let script = format!(
        r#"ulimit -n 300 && for fd in $(seq 10 109); do eval "exec $fd</dev/null"; done && exec {} bench {addr} -c 230 -t 1 -d 300ms -w 0s --drain-timeout 100ms --max-errors 1000000 -q --json {}"#,
        env!("CARGO_BIN_EXE_nines"),
        path.display()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    let v = json(&path);
    let emfile = v["driver"]["connect_failures"]["EMFILE"]
        .as_u64()
        .unwrap_or(0);
    assert!(emfile > 0, "{}", v["driver"]);
    assert_eq!(
        v["driver"]["connections_opened"].as_u64().unwrap() + emfile,
        230
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("EMFILE") && stdout.contains("ulimit -n"),
        "{stdout}"
    );
}
