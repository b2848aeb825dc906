//! The `nines` binary as a user runs it: exit codes, one-line errors, the JSON report's keys,
//! and a Ctrl-C that still writes what was measured.

mod util;

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
            &["storm", "-c", "100000", "--connect-rate", "1"][..],
            "--connect-rate 1/s: opening 100,000 connections would take longer than the 24h",
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
            "--json",
        ])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
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
        assert_eq!(v["mode"], "open_loop");
        assert!(v["latency_uncorrected_us"]["p99"].as_f64().unwrap() > 0.0);
        assert_eq!(v["open_loop"]["requested_rps"], 3000.0);
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

#[test]
fn an_slo_gate_passes_fails_and_refuses_bad_expressions_with_distinct_exits() {
    let run = |slo: &str| {
        util::nines(&[
            "bench",
            "-d",
            "300ms",
            "-w",
            "0s",
            "-q",
            "--allow-invalid",
            "--slo",
            slo,
        ])
    };
    let pass = run("rps>=1,errors<=0.1%,p99.99<=60s");
    let text = String::from_utf8_lossy(&pass.stdout);
    assert_eq!(pass.status.code(), Some(0), "{text}");
    assert_eq!(
        text.matches("SLO PASS").count(),
        4,
        "three clauses and the verdict: {text}"
    );
    let fail = run("rps>=1,p50<=1ns");
    let text = String::from_utf8_lossy(&fail.stdout);
    assert_eq!(fail.status.code(), Some(3), "{text}");
    assert!(
        text.contains("SLO FAIL    p50<=1ns") && text.contains("measured"),
        "{text}"
    );
    let bad = util::nines(&["bench", "--slo", "p99<=fast"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn the_stats_stream_is_a_json_line_per_second() {
    let path = scratch("stream").join("stats.jsonl");
    let out = util::nines(&[
        "bench",
        "-d",
        "2s",
        "-w",
        "0s",
        "-q",
        "--stats-stream",
        path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 2, "{text}");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["interval"], i as u64);
        assert!(l["throughput_rps"].as_f64().unwrap() > 0.0, "{l}");
        assert!(l["p99_us"].as_f64().unwrap() >= l["p50_us"].as_f64().unwrap());
        assert_eq!(l["errors"], 0);
    }
    // To stdout, the stream is all stdout has: the summary goes to stderr.
    let out = util::nines(&["bench", "-d", "1s", "-w", "0s", "-q", "--stats-stream", "-"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("throughput"));
}

#[test]
fn compare_groups_runs_and_says_when_it_cannot_call_a_difference() {
    let dir = scratch("compare");
    let mut files = Vec::new();
    for i in 0..4 {
        let f = dir.join(format!("run{i}.json"));
        let out = util::nines(&[
            "bench",
            "-n",
            "2000",
            "-w",
            "0s",
            "-q",
            "-c",
            "4",
            "--json",
            f.to_str().unwrap(),
        ]);
        assert!(out.status.success());
        files.push(f.to_str().unwrap().to_string());
    }
    let mut args = vec!["compare", "--repeat", "2"];
    args.extend(files.iter().map(String::as_str));
    let out = util::nines(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("run0") && text.contains("run2 vs run0"),
        "{text}"
    );
    assert!(text.contains("p99 µs") && text.contains("p="), "{text}");
    assert!(
        text.contains("no difference can be called significant"),
        "{text}"
    );
    let mut bad = vec!["compare", "--repeat", "3"];
    bad.extend(files.iter().map(String::as_str));
    let out = util::nines(&bad);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_report_ends_with_what_limited_it() {
    let json = scratch("diagnosis").join("r.json");
    let out = util::nines(&[
        "bench",
        "-d",
        "500ms",
        "-w",
        "0s",
        "-q",
        "--json",
        json.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("limited by"), "{text}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let d = r["diagnosis"].as_array().unwrap();
    assert!(
        !d.is_empty()
            && d.iter()
                .all(|l| l["evidence"].as_str().is_some_and(|e| !e.is_empty())),
        "{r}"
    );
    // Half a second cannot be batched, and says so.
    assert!(
        text.contains("95% CI") && text.contains("too short"),
        "{text}"
    );
    assert!(
        r["confidence"]["percentiles"][4]["too_short"].is_string(),
        "{}",
        r["confidence"]
    );
    // The embedded server's threads are measured from /proc.
    assert!(
        r["server_cpu"]["busiest_thread"]
            .as_str()
            .unwrap()
            .starts_with("nines-"),
        "{}",
        r["server_cpu"]
    );
}

#[test]
fn a_report_directory_holds_the_summary_table_csv_hgrm_json_and_plots() {
    let dir = scratch("reportdir").join("out");
    // Open loop, so there is an uncorrected series too; three whole seconds for the timeline.
    let out = util::nines(&[
        "bench",
        "--rate",
        "3000",
        "-d",
        "3s",
        "-w",
        "0s",
        "-q",
        "--report",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        md.contains("| latency µs |") && md.contains("limited by"),
        "{md}"
    );
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "a header and one run: {csv}");
    assert!(std::fs::read_to_string(dir.join("latency.hgrm"))
        .unwrap()
        .contains("Percentile"));
    // The spectrum: both series, the log percentile axis labelled in nines, latency in µs.
    let p = util::svg::read(&dir.join("latency-spectrum.svg"));
    for text in [
        "Latency by percentile",
        "corrected (from intended send time)",
        "uncorrected (from actual send time)",
        "percentile (log scale of 1/(1-p))",
        "latency (µs, log scale)",
        "90%",
        "99%",
        "99.9%",
    ] {
        assert!(p.says(text), "spectrum lacks {text:?}: {:?}", p.texts);
    }
    // 9,000 replies reach 99.99% at 20 points a decade: ~80 points per curve.
    assert!(
        p.line(util::svg::RED) > 50 && p.line(util::svg::BLUE) > 50,
        "{p:?}"
    );
    // The timeline: a throughput panel and a p99 panel over the seconds measured.
    let p = util::svg::read(&dir.join("timeline.svg"));
    for text in [
        "throughput per second",
        "throughput (req/s)",
        "p99 latency (µs)",
        "seconds into the measurement",
        "3,000",
    ] {
        assert!(p.says(text), "timeline lacks {text:?}: {:?}", p.texts);
    }
    assert_eq!(
        (p.line(util::svg::BLUE), p.line(util::svg::RED)),
        (3, 3),
        "a point per second in each panel: {p:?}"
    );
    // `nines report R.json --out DIR` writes the same directory from a saved result.
    let again = dir.with_file_name("again");
    let out = util::nines(&[
        "report",
        dir.join("result.json").to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(again.join("results.csv")).unwrap(),
        csv
    );
}
