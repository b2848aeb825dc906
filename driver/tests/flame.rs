//! Flame graphs from real perf runs: nines-server sampled over the measured window only, its
//! own functions in the graph, its threads named; two runs compared frame by frame and as a
//! differential graph; and the paths where no graph can be had (perf missing, a result without
//! one) each one line, with the run still measured.

mod util;

use std::process::{Command, Stdio};

use serde_json::Value;
use util::server::server;
use util::{nines, scratch};

/// `nines bench ADDR ... --flame FILE --json FILE`: the exit code, the summary, the report.
fn flamed(tag: &str, target: Option<&str>, extra: &[&str]) -> (i32, String, Value) {
    let dir = scratch("flame");
    let (svg, json) = (
        dir.join(format!("{tag}.svg")),
        dir.join(format!("{tag}.json")),
    );
    let mut args = vec!["bench"];
    args.extend(target);
    args.extend_from_slice(&["-t", "1", "-q", "--flame", svg.to_str().unwrap()]);
    args.extend_from_slice(&["--json", json.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let out = nines(&args);
    let report =
        serde_json::from_slice(&std::fs::read(&json).unwrap_or_default()).unwrap_or_else(|e| {
            panic!(
                "{tag}: no report ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let summary = String::from_utf8(out.stdout).unwrap();
    (out.status.code().unwrap_or(-1), summary, report)
}

/// Parses an SVG inferno drew (it carries a DOCTYPE), panicking with why it is not well-formed.
fn well_formed(text: &str, what: &str) {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(text, opts).unwrap_or_else(|e| panic!("{what}: {e}"));
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A nines-server process under load, sampled with a long warm-up before a short measured
/// window: the graph holds nines-server's own functions under its named worker thread, and no
/// more samples than one thread on CPU for the measured window could give (the warm-up, three
/// times longer, is not in it). The SVG is drawn, into the report directory too, and two such
/// runs (one pipelined) compare frame by frame and as a differential graph.
#[test]
fn nines_server_is_sampled_over_the_measured_window_and_compared() {
    let (_srv, addr) = server(&["--workers", "1"], "");
    let addr = addr.to_string();
    let dir = scratch("flame");
    let report_dir = dir.join("report-a");
    let (code, summary, a) = flamed(
        "a",
        Some(&addr),
        &[
            "-c",
            "32",
            "-w",
            "3s",
            "-d",
            "1s",
            "--report",
            report_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{summary}");
    let f = &a["flame"];
    assert_eq!(f["status"], "sampled", "{f}");
    let (hz, seconds, samples) = (num(&f["hz"]), num(&f["seconds"]), num(&f["samples"]));
    assert!(
        (0.9..1.5).contains(&seconds),
        "sampled {seconds} s of a 1 s window"
    );
    assert!(samples >= 20.0, "{samples} samples");
    // A sample is taken of a thread on CPU, `hz` times a second: as many as the server's CPU
    // over the window gives. Three seconds of warm-up sampled too would be four times as many.
    let cpu = num(&a["server_cpu"]["total_pct"]) / 100.0;
    let expected = cpu * hz * seconds;
    assert!(
        (0.5 * expected..1.5 * expected).contains(&samples),
        "{samples} samples at {hz} Hz over {seconds} s of a server on CPU {:.0}%: expected about {expected:.0}",
        cpu * 100.0
    );
    let threads = f["threads"].as_array().unwrap();
    assert!(
        threads[0]["name"]
            .as_str()
            .unwrap()
            .starts_with("nines-worker"),
        "{threads:?}"
    );
    let folded: Vec<&str> = f["folded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        folded
            .iter()
            .any(|l| l.contains("nines_server::worker::Worker")),
        "{folded:?}"
    );
    // Kernel frames too: the socket writes under the server's own.
    assert!(
        folded.iter().any(|l| l.contains("tcp_sendmsg")),
        "no kernel frames"
    );
    assert!(!f["hottest"].as_array().unwrap().is_empty());
    assert!(
        summary.contains("  flame ") && summary.contains("  hottest "),
        "{summary}"
    );
    for svg in [dir.join("a.svg"), report_dir.join("flame.svg")] {
        let text = std::fs::read_to_string(&svg).unwrap();
        well_formed(&text, &svg.display().to_string());
        assert!(
            text.contains("nines_server::worker::Worker"),
            "{}",
            svg.display()
        );
    }

    let (code, _, b) = flamed(
        "b",
        Some(&addr),
        &["-c", "32", "--pipeline", "16", "-w", "0.5s", "-d", "1s"],
    );
    assert_eq!(code, 0);
    assert_eq!(b["flame"]["status"], "sampled");
    let diff = dir.join("diff.svg");
    let out = nines(&[
        "compare",
        dir.join("a.json").to_str().unwrap(),
        dir.join("b.json").to_str().unwrap(),
        "--flame-diff",
        diff.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("Where the target's CPU moved, b vs a"),
        "{said}"
    );
    let text = std::fs::read_to_string(&diff).unwrap();
    well_formed(&text, "the differential graph");
    assert!(
        text.contains("nines_server::"),
        "differential graph without the server's frames"
    );
}

/// The embedded server is sampled by its own threads: the driver's threads, in the same
/// process, are not in its graph.
#[test]
fn the_embedded_server_is_sampled_without_the_driver() {
    let (code, summary, r) = flamed("embedded", None, &["-c", "16", "-w", "0.5s", "-d", "1s"]);
    assert_eq!(code, 0, "{summary}");
    let f = &r["flame"];
    assert_eq!(f["status"], "sampled", "{f}");
    for t in f["threads"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        assert!(
            name.starts_with("nines-worker") || name.starts_with("nines-accept"),
            "{name}"
        );
    }
}

/// Without perf the run is still measured: one line says why there is no graph and what to
/// do, the exit status is the run's, and no SVG is written. Comparing a result that has no
/// graph says so in one line and fails.
#[test]
fn without_perf_the_run_is_measured_and_one_line_says_why() {
    let dir = scratch("flame");
    let (svg, json) = (dir.join("none.svg"), dir.join("none.json"));
    let out = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["bench", "-t", "1", "-c", "8", "-w", "0s", "-d", "1s", "-q"])
        .args([
            "--flame",
            svg.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ])
        .env("NINES_PERF", "/nonexistent/perf")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{summary}");
    let lines: Vec<&str> = summary.lines().filter(|l| l.contains("perf")).collect();
    assert_eq!(lines.len(), 1, "{summary}");
    assert!(
        lines[0].contains("not taken") && lines[0].contains("install perf"),
        "{}",
        lines[0]
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r["flame"]["status"], "unavailable");
    assert!(
        r["requests"].as_u64().unwrap() > 0,
        "the run was not measured"
    );
    assert!(!svg.exists());

    let out = nines(&[
        "compare",
        json.to_str().unwrap(),
        json.to_str().unwrap(),
        "--flame-diff",
    ]);
    assert!(
        !out.status.success(),
        "--flame-diff without a FILE must be refused"
    );
    let diff = dir.join("none-diff.svg");
    let out = nines(&[
        "compare",
        json.to_str().unwrap(),
        json.to_str().unwrap(),
        "--flame-diff",
        diff.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(
        err.lines().filter(|l| l.contains("--flame-diff")).count(),
        1,
        "{err}"
    );
    assert!(err.contains("run it with --flame"), "{err}");
    assert!(!diff.exists());
}

/// Ctrl-C at the terminal (SIGINT to the whole process group, perf's too) mid-window: the run
/// is cut short and still has the flame graph of what was sampled until then.
#[test]
fn an_interrupted_run_keeps_its_flame_graph() {
    use std::os::unix::process::CommandExt as _;
    let dir = scratch("flame");
    let (svg, json) = (dir.join("int.svg"), dir.join("int.json"));
    let child = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args([
            "bench", "-t", "1", "-c", "8", "-w", "0.5s", "-d", "30s", "-q",
        ])
        .args([
            "--flame",
            svg.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Until a second or two of the window has been sampled.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
    nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r["cut_short"]["kind"], "interrupted", "{summary}");
    assert_eq!(r["flame"]["status"], "sampled", "{summary}");
    assert!(num(&r["flame"]["seconds"]) < 29.0);
    assert!(svg.exists(), "{summary}");
}
