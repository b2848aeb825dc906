//! What people act on after a run, from the `nines` binary: the SLO gate's verdicts and exit
//! codes, the per-second stats stream, `nines compare`, the diagnosis every report ends with,
//! and report directories with their plots.

mod util;

use util::scratch;

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
fn capped_replies_make_a_run_invalid_for_the_gate() {
    // The embedded server caps Work at 100 ms: a request for 150 ms is answered early, CAPPED,
    // and a gate must not pass a faster answer to an easier question.
    let run = |extra: &[&str]| {
        let mut args = vec![
            "bench",
            "--op",
            "work",
            "--work-us",
            "150000",
            "-c",
            "1",
            "-n",
            "3",
            "-w",
            "0s",
            "-q",
            "--slo",
            "errors<=0",
        ];
        args.extend_from_slice(extra);
        util::nines(&args)
    };
    let out = run(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("SLO INVALID FAIL") && text.contains("CAPPED"),
        "{text}"
    );
    let allowed = run(&["--allow-invalid"]);
    let text = String::from_utf8_lossy(&allowed.stdout);
    assert_eq!(allowed.status.code(), Some(0), "{text}");
    assert!(text.contains("judged anyway (--allow-invalid)"), "{text}");
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
        // Each reply is a 40-byte header and its 64-byte echo: the second's bytes follow them.
        let per_reply =
            l["received_bytes_per_s"].as_f64().unwrap() / l["throughput_rps"].as_f64().unwrap();
        assert!(
            (80.0..130.0).contains(&per_reply),
            "{per_reply} B per reply: {l}"
        );
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
    // Its CPU over every reply: the figure servers and models are compared by. Half a second
    // of a busy server is tens of ticks of CPU over tens of thousands of replies.
    let cpu_s = r["server_cpu"]["cpu_s"].as_f64().unwrap();
    assert!(cpu_s > 0.0, "{}", r["server_cpu"]);
    assert!(text.contains("µs of CPU per reply"), "{text}");
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
