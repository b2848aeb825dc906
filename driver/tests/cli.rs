//! The `nines` binary as a user runs it: exit codes, one-line errors, the JSON report's keys,
//! and a Ctrl-C that still writes what was measured.

mod util;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::{nines, scratch};

fn temp_path(name: &str) -> PathBuf {
    scratch(&format!("cli-{name}")).join("report.json")
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn embedded_run_writes_the_design_json_keys() {
    let path = temp_path("keys");
    let out = nines(&[
        "bench",
        "--requests",
        "3000",
        "--warmup",
        "0s",
        "-c",
        "8",
        "--threads",
        "1",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("throughput") && stdout.contains("p99.99"),
        "{stdout}"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for k in [
        "throughput_rps",
        "requests",
        "errors",
        "duration_s",
        "latency_us",
        "manifest",
        "histograms",
        "intervals",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    for k in ["nines_version", "git_commit", "command", "config", "host"] {
        assert!(v["manifest"].get(k).is_some(), "missing manifest.{k}");
    }
    let mut lat = keys(&v["latency_us"]);
    lat.sort();
    let mut want: Vec<String> = [
        "min", "mean", "p50", "p75", "p90", "p95", "p99", "p99_9", "p99_99", "max",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    want.sort();
    assert_eq!(lat, want);
    assert_eq!(v["requests"], 3000);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["status"], "completed");
    assert_eq!(v["embedded_server"], true);
    assert_eq!(
        v["server"]["requests"], 3000,
        "server and driver agree on the count"
    );
    assert!(v["throughput_rps"].as_f64().unwrap() > 0.0);
    assert!(v["manifest"]["host"]["kernel"]
        .as_str()
        .is_some_and(|k| !k.is_empty()));
}

#[test]
fn json_to_stdout_with_dash() {
    let out = nines(&[
        "bench",
        "-n",
        "500",
        "-w",
        "0s",
        "-c",
        "2",
        "--protocol",
        "echo",
        "--json",
        "-",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is only JSON");
    assert_eq!(v["requests"], 500);
    assert_eq!(v["manifest"]["config"]["request"]["protocol"], "echo");
    assert!(String::from_utf8_lossy(&out.stderr).contains("throughput"));
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &["bench", "--connections", "many"][..],
        &["bench", "--duration", "5 fortnights"],
        &["bench", "--op", "dance"],
        &["bench", "--no-such-flag"],
        &["bench", "--duration", "1s", "--requests", "5"],
    ] {
        let out = nines(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error:"), "{args:?}: {err}");
    }
    let out = nines(&["bench", "-c", "0", "-n", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--connections 0 is out of range"));
    // A storm too long to run names the part that made it so: the ramp, or the hold after it.
    for (args, says) in [
        (
            &[
                "storm",
                "127.0.0.1:1",
                "-c",
                "19000",
                "--connect-rate",
                "0.1",
            ][..],
            "--connect-rate 0.1/s: opening 19,000 connections would take longer than the 24h",
        ),
        (
            &["storm", "-c", "10", "--connect-rate", "1", "-d", "25h"],
            "the ramp (10 connections at 1/s) takes 10s",
        ),
    ] {
        let out = nines(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn a_flag_where_it_does_not_apply_is_refused_and_named() {
    for (args, says) in [
        (
            &["bench", "--seed", "3"][..],
            "--seed applies to open-loop load",
        ),
        (
            &["bench", "--lag-threshold", "5ms"],
            "--lag-threshold applies to open-loop load",
        ),
        (
            &["bench", "--method", "POST"],
            "--method applies to http:// only, not nines echo 64 B",
        ),
        (
            &["bench", "--keyspace", "10"],
            "--keyspace applies to a redis --command with __rand__ only",
        ),
        (
            &["bench", "--op", "work", "--payload", "1k"],
            "--payload applies to nines echo and source",
        ),
        (
            &["bench", "--message", "text", "--protocol", "echo"],
            "--message applies to ws:// only",
        ),
        (
            &["bench", "http://127.0.0.1:1/", "--work-us", "5"],
            "--work-us applies to nines --op work only, not HTTP GET /",
        ),
        (
            &["bench", "127.0.0.1:1", "--server-workers", "2"],
            "--server-workers applies to the embedded server",
        ),
        (
            &["bench", "-c", "1,8"],
            "takes one number here; `nines sweep` takes a list",
        ),
        (&["sweep", "--rate", "5k"], "--rate a sweep takes --rates"),
        (
            &["storm", "--op", "work"],
            "a storm sends messages that come back",
        ),
        (
            &["storm", "--processes", "0"],
            "--processes 0 is out of range",
        ),
    ] {
        let out = nines(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // Open-loop flags fit a sweep's rate steps.
    let out = nines(&[
        "sweep",
        "--rates",
        "1k",
        "--seed",
        "3",
        "--arrival",
        "poisson",
        "-d",
        "200ms",
        "-w",
        "0s",
        "-c",
        "2",
        "-q",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unreachable_target_is_one_clear_line() {
    // Bind then drop a listener to get a port nobody is listening on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = nines(&["bench", &format!("127.0.0.1:{port}"), "-d", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot connect") && err.contains("refused"),
        "{err}"
    );
    let out = nines(&["bench", "no-such-host.invalid:80", "-d", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot resolve"));
}

#[test]
fn ctrl_c_writes_the_results_so_far_and_says_so() {
    let path = temp_path("sigint");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args([
            "bench",
            "-d",
            "60s",
            "-w",
            "0s",
            "-c",
            "4",
            "--threads",
            "1",
            "--progress",
            "--json",
        ])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once a second of measurement has been reported: then replies were measured.
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = stderr.lines();
    let measured = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("req/s"));
    assert!(measured, "a second of measurement was reported");
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "nines did not stop after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("CUT SHORT"));
    drop(lines);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(v["status"], "cut_short");
    assert_eq!(v["cut_short"]["kind"], "interrupted");
    assert!(v["requests"].as_u64().unwrap() > 0);
    assert!(v["duration_s"].as_f64().unwrap() < 30.0);
}

#[test]
fn interval_logs_from_two_runs_merge_into_one_true_distribution() {
    let dir = temp_path("merge").parent().unwrap().to_path_buf();
    let mut total = 0;
    for name in ["a", "b"] {
        let hlog = dir.join(format!("{name}.hlog"));
        let json = dir.join(format!("{name}.json"));
        let hgrm = dir.join(format!("{name}.hgrm"));
        let out = nines(&[
            "bench",
            "-R",
            "3000",
            "-d",
            "2s",
            "-w",
            "0s",
            "-c",
            "4",
            "--threads",
            "1",
            "--hlog",
            hlog.to_str().unwrap(),
            "--hdr-out",
            hgrm.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        assert_eq!(v["load"]["model"], "open_loop");
        assert!(v["latency_uncorrected_us"]["p99"].as_f64().unwrap() > 0.0);
        assert_eq!(v["load"]["requested_rps"], 3000.0);
        assert!(v["warnings"].is_array());
        total += v["requests"].as_u64().unwrap();
        let log = std::fs::read_to_string(&hlog).unwrap();
        assert!(log.contains("#[StartTime:") && log.contains("#[BaseTime:"));
        let intervals = log
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count();
        assert!(
            (2..=3).contains(&intervals),
            "one histogram per second, got {intervals}"
        );
        let dist = std::fs::read_to_string(&hgrm).unwrap();
        assert!(
            dist.contains(&format!(
                "Total count    = {:>12}]",
                v["requests"].as_u64().unwrap()
            )),
            "{dist}"
        );
    }
    let merged = dir.join("merged.json");
    let out = nines(&[
        "merge",
        dir.join("a.hlog").to_str().unwrap(),
        dir.join("b.hlog").to_str().unwrap(),
        "--json",
        merged.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 result(s)"));
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&merged).unwrap()).unwrap();
    assert_eq!(
        m["requests"].as_u64().unwrap(),
        total,
        "every request of both runs, counted once"
    );
    assert!(m["latency_us"]["p99"].as_f64().unwrap() >= m["latency_us"]["p50"].as_f64().unwrap());

    // A file that is not a log is one clear error.
    let junk = dir.join("junk.hlog");
    std::fs::write(&junk, "hello\n").unwrap();
    let out = nines(&["merge", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("junk.hlog") && err.trim().lines().count() == 1,
        "{err}"
    );
}

#[test]
fn progress_lines_show_rate_and_percentiles_each_second() {
    let out = nines(&[
        "bench",
        "-R",
        "2000",
        "-d",
        "2s",
        "-w",
        "0s",
        "-c",
        "2",
        "--threads",
        "1",
        "--progress",
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("req/s") && l.contains("p99"))
        .collect();
    assert!(lines.len() >= 2, "{err}");
    assert!(
        lines[0].contains("p50") && lines[0].contains("errors 0"),
        "{err}"
    );
    let quiet = nines(&[
        "bench", "-R", "2000", "-d", "1s", "-w", "0s", "-c", "2", "-q",
    ]);
    assert!(quiet.status.success());
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("req/s"));
}

#[test]
fn profile_prints_a_breakdown_and_writes_its_keys() {
    let out = nines(&[
        "profile",
        "-n",
        "2000",
        "-w",
        "0s",
        "-c",
        "4",
        "--threads",
        "1",
        "--json",
        "-",
        "-q",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = [
        "accept_pct",
        "read_pct",
        "process_pct",
        "write_pct",
        "overhead_pct",
    ];
    let p = &v["profile"];
    let sum: f64 = keys.iter().map(|k| p[k].as_f64().unwrap()).sum();
    assert!((sum - 100.0).abs() < 0.01, "{sum}");
    let b = p["bottleneck"].as_str().unwrap();
    assert!(["accept", "read", "process", "write", "overhead"].contains(&b));
    let largest = keys
        .iter()
        .map(|k| p[*k].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(p[format!("{b}_pct")].as_f64().unwrap(), largest);
    assert_eq!(v["requests"], 2000);
    assert!(v["kernel"]["listen_overflows"].is_u64());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bottleneck"));
    // Profiling an echo server is a clear error, not a silent zero.
    let out = nines(&["profile", "--protocol", "echo", "-n", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nines protocol"));
}

#[test]
fn start_at_waits_for_the_given_time_and_refuses_the_past() {
    let started = Instant::now();
    let out = nines(&[
        "bench",
        "--start-at",
        "+2s",
        "-n",
        "200",
        "-w",
        "0s",
        "-c",
        "2",
        "-q",
        "--json",
        "-",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "load started before --start-at"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["requests"], 200);
    assert!(
        v["driver"]["connect_s"].as_f64().unwrap() < 1.9,
        "connecting happens before the wait"
    );
    let out = nines(&["bench", "--start-at", "1000", "-n", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in the past"));
}
