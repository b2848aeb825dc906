//! A result is a value: `nines bench --json` saves it whole, `nines report` prints it again in
//! every format (the text exactly as the live run printed it), and `nines merge` adds saved
//! results and interval logs into one true distribution, but never one run twice.

mod util;

use std::path::{Path, PathBuf};

use serde_json::Value;
use util::{nines, ok, scratch};

fn dir() -> PathBuf {
    scratch("results")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One short open-loop run saved as JSON and as an interval log; returns the live summary.
fn saved_run(json: &Path, hlog: &Path) -> String {
    ok(&[
        "bench",
        "-R",
        "2000",
        "-d",
        "2s",
        "-w",
        "200ms",
        "-c",
        "4",
        "-t",
        "1",
        "-q",
        "--json",
        s(json),
        "--hlog",
        s(hlog),
    ])
}

#[test]
fn a_saved_run_prints_the_same_figures_and_renders_in_every_format() {
    let d = dir();
    let (json, hlog) = (d.join("r.json"), d.join("r.hlog"));
    let live = saved_run(&json, &hlog);
    assert_eq!(
        ok(&["report", s(&json)]),
        live,
        "one renderer for the live run and the saved one"
    );

    let v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["format"], "nines-report/2");
    assert_eq!(v["load"]["model"], "open_loop");
    // Bytes are counted as they come off the wire: 2,000 replies a second of 40 + 64 bytes.
    let t = &v["transfer"];
    let requests = v["requests"].as_f64().unwrap();
    for key in ["received_bytes", "sent_bytes"] {
        let per_reply = t[key].as_f64().unwrap() / requests;
        assert!(
            (100.0..108.0).contains(&per_reply),
            "{key}: {per_reply} B per reply: {t}"
        );
    }
    let rate = t["received_bytes_per_s"].as_f64().unwrap() / v["throughput_rps"].as_f64().unwrap();
    assert!((100.0..108.0).contains(&rate), "{t}");
    for h in ["corrected", "uncorrected", "warmup", "schedule_lag"] {
        assert!(
            v["histograms"][h]
                .as_str()
                .is_some_and(|b| b.starts_with("HISTF")),
            "{h}"
        );
    }
    let intervals = v["intervals"].as_array().unwrap();
    assert!(
        (2..=3).contains(&intervals.len()),
        "one per second: {}",
        intervals.len()
    );
    let in_intervals: u64 = intervals
        .iter()
        .map(|i| i["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(
        in_intervals,
        v["requests"].as_u64().unwrap(),
        "every reply is in one second"
    );

    let again: Value =
        serde_json::from_str(&ok(&["report", s(&json), "--format", "json"])).unwrap();
    assert_eq!(again, v, "json re-renders the very same value");

    let md = ok(&["report", s(&json), "--format", "markdown"]);
    assert!(
        md.starts_with("### nines bench") && md.contains("| latency µs | min |"),
        "{md}"
    );
    assert!(
        md.contains("| corrected |") && md.contains("| uncorrected |"),
        "{md}"
    );

    let csv = ok(&["report", s(&json), s(&json), "--format", "csv"]);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "a header and a row per result: {csv}");
    let header: Vec<&str> = rows[0].split(',').collect();
    let row: Vec<&str> = rows[1].split(',').collect();
    assert_eq!(header.len(), row.len());
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("requests"), v["requests"].to_string());
    assert_eq!(col("p99_us"), v["latency_us"]["p99"].to_string());

    let hgrm = ok(&["report", s(&json), "--format", "hgrm"]);
    let total = v["requests"].as_u64().unwrap();
    assert!(
        hgrm.contains(&format!("Total count    = {total:>12}]")),
        "{hgrm}"
    );
    let log = ok(&["report", s(&json), "--format", "hlog"]);
    assert!(
        log.contains("#[StartTime:")
            && log.lines().filter(|l| l.contains("HISTF")).count() == intervals.len()
    );
}

#[test]
fn merging_two_runs_adds_them_and_one_run_twice_is_refused() {
    let d = dir();
    let (a, a_log) = (d.join("a.json"), d.join("a.hlog"));
    let (b, b_log) = (d.join("b.json"), d.join("b.hlog"));
    saved_run(&a, &a_log);
    saved_run(&b, &b_log);
    let read = |p: &Path| -> Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let (va, vb) = (read(&a), read(&b));
    let requests = |v: &Value| v["requests"].as_u64().unwrap();
    let p50 = |v: &Value| v["latency_us"]["p50"].as_f64().unwrap();

    let merged = d.join("merged.json");
    let text = ok(&["merge", s(&a), s(&b), "--json", s(&merged)]);
    assert!(text.contains("2 result(s)"), "{text}");
    let m = read(&merged);
    assert_eq!(m["origin"], "merged");
    assert_eq!(requests(&m), requests(&va) + requests(&vb));
    // The merged median is the median of every reply: between the parts' medians.
    let (lo, hi) = (p50(&va).min(p50(&vb)), p50(&va).max(p50(&vb)));
    assert!((lo..=hi).contains(&p50(&m)), "{lo} {} {hi}", p50(&m));
    // A merged result is a result: it renders, and merges again.
    assert!(ok(&["report", s(&merged)]).contains("nines merge"));
    let (c, c_log) = (d.join("c.json"), d.join("c.hlog"));
    saved_run(&c, &c_log);
    let t: Value = serde_json::from_str(&ok(&["merge", s(&merged), s(&c), "--json", "-"])).unwrap();
    assert_eq!(requests(&t), requests(&m) + requests(&read(&c)));
    assert_eq!(
        t["parts"].as_array().unwrap().len(),
        3,
        "merged parts are listed, not nested"
    );
    // An interval log merges with JSON results too (it carries corrected latencies only).
    let mixed: Value =
        serde_json::from_str(&ok(&["merge", s(&a), s(&b_log), "--json", "-"])).unwrap();
    assert_eq!(requests(&mixed), requests(&va) + requests(&vb));
    assert!(
        mixed["latency_uncorrected_us"].is_null(),
        "the log has no uncorrected histogram"
    );

    // One run twice would double its throughput: refused, naming both files, exit status 2.
    let copy = d.join("copy-of-a.json");
    std::fs::copy(&a, &copy).unwrap();
    for (first, second, why) in [
        (&a, &a, "the same run id"),
        (&a, &copy, "the same run id"),
        (&merged, &a, "both hold a run with the same run id"),
        (
            &a,
            &a_log,
            "the same latencies, count for count, from the same instant",
        ),
    ] {
        let out = nines(&["merge", s(first), s(&c), s(second), "--json", "-"]);
        assert_eq!(out.status.code(), Some(2), "{first:?} {second:?}");
        assert!(out.stdout.is_empty(), "nothing merged is written");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim_end(),
            format!(
                "nines: error: {} and {} are the same run ({why}): merging them would count its replies twice",
                first.display(),
                second.display()
            )
        );
    }
}

#[test]
fn files_that_are_not_results_are_one_clear_line() {
    let d = dir();
    let junk = d.join("junk.json");
    std::fs::write(&junk, "{\"requests\": 1}").unwrap();
    for cmd in ["report", "merge"] {
        let out = nines(&[cmd, s(&junk)]);
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("junk.json") && err.trim().lines().count() == 1,
            "{cmd}: {err}"
        );
    }
    let out = nines(&["report", s(&junk), s(&junk), "--format", "hgrm"]);
    assert_eq!(out.status.code(), Some(2), "a distribution is one result's");
}
