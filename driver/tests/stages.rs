//! Staged open loops (`--stages`) against a real nines-server: the rate follows each stage
//! second by second (the schedule's target is in each second, and the replies match it), each
//! stage gets its own percentiles in every output, the timeline draws target beside achieved,
//! two drivers' staged runs merge with their rates added, and stages that cannot run are one
//! line naming the flag, exit 2.

mod util;

use std::process::{Command, Stdio};

use serde_json::Value;
use util::server::{counter, server, stop_srv};
use util::svg;
use util::{nines, scratch};

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `nines bench ADDR --stages STAGES --json FILE ARGS`: exit code, report, stdout and stderr.
fn staged(tag: &str, addr: &str, stages: &str, args: &[&str]) -> (i32, Value, String, String) {
    let json = scratch("stages").join(format!("{tag}.json"));
    let path = json.to_str().unwrap().to_string();
    let mut all = vec!["bench", addr, "--stages", stages, "--json", &path];
    all.extend_from_slice(args);
    let out = nines(&all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{tag}: no report ({e}); stderr: {stderr}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.code().unwrap_or(-1),
        report,
        stdout,
        stderr.into_owned(),
    )
}

#[test]
fn a_ramp_up_hold_and_ramp_down_is_followed_second_by_second() {
    let (srv, addr) = server(&["--workers", "1"], "");
    let dir = scratch("stages").join("report");
    let (code, r, stdout, stderr) = staged(
        "constant",
        &addr.to_string(),
        "2s:2000,2s:2000,2s:0",
        &[
            "-c",
            "4",
            "-t",
            "1",
            "--progress",
            "--report",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(n(&r["errors"]), 0);
    // The server answered exactly what the driver counts (no warm-up with stages).
    let stopped = stop_srv(srv);
    assert_eq!(
        counter(&stopped, "requests"),
        n(&r["requests"]),
        "{stopped}"
    );
    // Each second's target is the area under the stages over that second; what came back
    // follows it (constant spacing; a reply can cross into the next second, no more).
    let targets = [500.0, 1500.0, 2000.0, 2000.0, 1500.0, 500.0];
    let intervals = r["intervals"].as_array().unwrap();
    for (iv, want) in intervals.iter().zip(targets) {
        if f(&iv["duration_s"]) < 0.999 {
            continue;
        }
        let target = f(&iv["target_rps"]);
        assert!((target - want).abs() < 1e-6 * want, "{iv}");
        let got = n(&iv["requests"]) as f64;
        assert!(
            (got - want).abs() <= 0.02 * want + 5.0,
            "second {}: {got} of {want}",
            iv["start_s"]
        );
    }
    // Each stage: what it asked for and got, and its own latency percentiles.
    let stages = r["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3);
    for (st, (asked, from, to)) in stages.iter().zip([
        (2000.0, 0.0, 2000.0),
        (4000.0, 2000.0, 2000.0),
        (2000.0, 2000.0, 0.0),
    ]) {
        assert_eq!(
            (
                f(&st["target_requests"]),
                f(&st["from_rps"]),
                f(&st["to_rps"])
            ),
            (asked, from, to)
        );
        let got = n(&st["requests"]) as f64;
        assert!((got - asked).abs() <= 0.01 * asked + 5.0, "{st}");
        assert!(
            f(&st["latency_us"]["p99"]) >= f(&st["latency_us"]["p50"]),
            "{st}"
        );
    }
    let total: u64 = stages.iter().map(|s| n(&s["requests"])).sum();
    assert_eq!(total, n(&r["requests"]), "every reply is in one stage");
    // The summary's mean rate is the stages' (8,000 over 6 s), and every output shows them.
    assert!((f(&r["load"]["requested_rps"]) - 8000.0 / 6.0).abs() < 1e-6);
    assert!(
        stdout.contains("open loop in stages 2s:2000,2s:2000,2s:0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("0 → 2,000/s") && stdout.contains("2,000 → 0/s"),
        "{stdout}"
    );
    // While it ran, each second's progress line said its target beside what it achieved.
    for target in [
        "of       500 req/s",
        "of     1,500 req/s",
        "of     2,000 req/s",
    ] {
        assert!(stderr.contains(target), "{target}: {stderr}");
    }
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        md.contains("| stage | time | rate |") && md.contains("| 2 | 2s-4s | 2,000/s |"),
        "{md}"
    );
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let stage_rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(2)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(stage_rows.len(), 3, "{csv}");
    for (i, row) in stage_rows.iter().enumerate() {
        assert_eq!(row[col("stage")], (i + 1).to_string());
        assert_eq!(row[col("requests")], stages[i]["requests"].to_string());
    }
    let plot = svg::read(&dir.join("timeline.svg"));
    assert!(
        plot.says("target") && plot.says("achieved"),
        "{:?}",
        plot.texts
    );
}

#[test]
fn poisson_stages_keep_each_stage_s_count_within_its_spread() {
    let (srv, addr) = server(&["--workers", "1"], "");
    let (code, r, _, _) = staged(
        "poisson",
        &addr.to_string(),
        "1s:3000,2s:3000",
        &[
            "-c",
            "4",
            "-t",
            "1",
            "--arrival",
            "poisson",
            "--seed",
            "7",
            "-q",
        ],
    );
    drop(srv);
    assert_eq!(code, 0, "{r}");
    for st in r["stages"].as_array().unwrap() {
        let asked = f(&st["target_requests"]);
        let got = n(&st["requests"]) as f64;
        // A Poisson count's sd is its mean's root; a reply crossing a second adds a few.
        assert!((got - asked).abs() <= 4.0 * asked.sqrt() + 5.0, "{st}");
    }
}

#[test]
fn two_drivers_staged_together_merge_with_their_rates_added() {
    let (srv, addr) = server(&["--workers", "1"], "");
    let d = scratch("stages-merge");
    let start = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            + 2.0
    );
    let runs: Vec<_> = ["a", "b"]
        .iter()
        .map(|part| {
            let json = d.join(format!("{part}.json"));
            let child = Command::new(env!("CARGO_BIN_EXE_nines"))
                .args([
                    "bench",
                    &addr.to_string(),
                    "--stages",
                    "2s:500,1s:500",
                    "-c",
                    "2",
                    "-t",
                    "1",
                    "-q",
                ])
                .args(["--start-at", &start, "--json"])
                .arg(&json)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (json, child)
        })
        .collect();
    let files = util::wait_all(runs);
    drop(srv);
    let merged = d.join("merged.json");
    util::merge_ok(&merged, &files);
    let m: Value = serde_json::from_slice(&std::fs::read(&merged).unwrap()).unwrap();
    let stages = m["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 2, "{m}");
    assert_eq!(
        (f(&stages[0]["to_rps"]), f(&stages[1]["from_rps"])),
        (1000.0, 1000.0)
    );
    assert_eq!(f(&stages[1]["target_requests"]), 1000.0);
    let total: u64 = stages.iter().map(|s| n(&s["requests"])).sum();
    assert_eq!(total, n(&m["requests"]));
    // Each second's target is both drivers' together.
    let second = &m["intervals"][1];
    assert!((f(&second["target_rps"]) - 750.0).abs() < 1e-6, "{second}");
}

#[test]
fn a_run_lasts_its_stages_and_threads_send_exactly_what_is_asked() {
    let (srv, addr) = server(&["--workers", "1"], "");
    // Ramped to 0 after 1 s, then 2 s of nothing: the run still lasts 3 s and measures them.
    let (code, r, _, _) = staged(
        "to-zero",
        &addr.to_string(),
        "1s:100,1ms:0,2s:0",
        &["-c", "2", "-t", "1", "-q"],
    );
    assert_eq!(code, 0, "{r}");
    assert!(f(&r["duration_s"]) >= 2.9, "{}", r["duration_s"]);
    let stages = r["stages"].as_array().unwrap();
    assert_eq!(
        (n(&stages[0]["requests"]), n(&stages[2]["requests"])),
        (50, 0)
    );
    // Eight threads share a ramp from 0: they interleave, so together they send the 50 asked,
    // not one each at the instant the rate is still 0.
    let (code, r, _, _) = staged(
        "threads",
        &addr.to_string(),
        "1s:100",
        &["-c", "8", "-t", "8", "-q"],
    );
    drop(srv);
    assert_eq!(code, 0, "{r}");
    assert_eq!(n(&r["requests"]), 50, "{}", r["stages"]);
}

#[test]
fn stages_that_cannot_run_are_one_line_naming_the_flag() {
    for (args, flag) in [
        (&["bench", "--stages", "0s:100"][..], "--stages"),
        (&["bench", "--stages", "2s:100,0ms:5"], "--stages"),
        (&["bench", "--stages", "5s:0,5s:0"], "--stages"),
        (&["bench", "--stages", "5s:-3"], "--stages"),
        (&["bench", "--stages", "5s"], "--stages"),
        (
            &["bench", "--stages", "2s:100", "--rate", "100"],
            "--stages",
        ),
        (&["bench", "--stages", "2s:100", "-d", "5s"], "--duration"),
        (&["bench", "--stages", "2s:100", "-n", "50"], "--requests"),
        (&["bench", "--stages", "2s:100", "-w", "1s"], "--warmup"),
        (&["bench", "--stages", "2s:99m"], "--stages"),
        (&["sweep", "--stages", "2s:100"], "--stages"),
    ] {
        let out = nines(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
    }
}
