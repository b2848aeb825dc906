//! `nines sweep` end to end against the embedded server: steps per level, the peak probe, the
//! knee, the saved value re-rendered, and the usage errors.

mod util;

use serde_json::Value;
use util::{nines, scratch};

#[test]
fn three_connection_levels_and_three_rates_make_six_steps_and_a_knee() {
    let json = scratch("sweep").join("sweep.json");
    let out = nines(&[
        "sweep",
        "--connections",
        "1,4,16",
        "--rates",
        "20%,40%,5k",
        "-d",
        "400ms",
        "-w",
        "100ms",
        "--peak-duration",
        "300ms",
        "-t",
        "1",
        "-q",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(s["format"], "nines-sweep/2");
    let steps = s["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6);
    let conns: Vec<u64> = steps
        .iter()
        .map(|st| st["report"]["driver"]["connections"].as_u64().unwrap())
        .collect();
    assert_eq!(
        conns,
        [1, 4, 16, 16, 16, 16],
        "rates run on the largest level"
    );
    for st in steps {
        let r = &st["report"];
        for key in [
            "throughput_rps",
            "requests",
            "errors",
            "latency_us",
            "histograms",
            "manifest",
        ] {
            assert!(!r[key].is_null(), "step {} has no {key}", st["label"]);
        }
        assert!(r["latency_us"]["p99"].as_f64().unwrap() > 0.0);
        // The sweep's embedded server lives in this process: its CPU is its own threads', not
        // the whole process's (which holds the driver too).
        let busiest = r["server_cpu"]["busiest_thread"].as_str().unwrap();
        assert!(busiest.starts_with("nines-worker"), "{}", r["server_cpu"]);
    }
    let peak = s["peak"]["throughput_rps"].as_f64().unwrap();
    assert!(peak > 0.0);
    let rate = steps[3]["report"]["load"]["requested_rps"]
        .as_f64()
        .unwrap();
    assert!(
        (rate - 0.2 * peak).abs() < 1.0,
        "20% of {peak} is not {rate}"
    );
    assert_eq!(
        steps[5]["report"]["load"]["requested_rps"].as_f64(),
        Some(5000.0)
    );
    assert_eq!(steps[3]["report"]["load"]["model"], "open_loop");
    assert!(
        s["knee"]["why"].as_str().unwrap().contains("knee")
            || s["knee"]["why"].as_str().unwrap().contains("break")
    );
    let k = s["knee"]["step"].as_u64().expect("a knee step");
    assert!(
        (3..6).contains(&k),
        "the knee is over the open-loop steps: {k}"
    );
    // The table printed live names every step and the knee; `nines report` prints it again.
    assert!(
        stdout.contains("20% of peak") && stdout.contains("knee"),
        "{stdout}"
    );
    let again = nines(&["report", json.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success() && text.contains("5,000 req/s") && text.contains("knee"),
        "{text}"
    );
    // Two sweeps (here the same one twice) compare step by step, matched by load level.
    let cmp = nines(&["compare", json.to_str().unwrap(), json.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&cmp.stdout);
    assert!(
        cmp.status.success(),
        "{}",
        String::from_utf8_lossy(&cmp.stderr)
    );
    for level in [
        "== 1 connection(s), closed loop",
        "== 16 connection(s), closed loop",
        "open loop",
    ] {
        assert!(table.contains(level), "{level}: {table}");
    }
    assert_eq!(table.matches("throughput req/s").count(), 6, "{table}");
    // A sweep beside one run, or beside a missing file, is one clear line.
    let step = scratch("sweep").join("step.json");
    let one = &s["steps"][0]["report"];
    std::fs::write(&step, serde_json::to_vec(one).unwrap()).unwrap();
    for (other, says) in [
        (step.as_path(), "is one run and the others are sweeps"),
        (std::path::Path::new("/nonexistent/x.json"), "cannot read"),
    ] {
        let out = nines(&["compare", json.to_str().unwrap(), other.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(says) && err.lines().count() == 1, "{err}");
    }
    let csv = nines(&["report", json.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(String::from_utf8_lossy(&csv.stdout).lines().count(), 7);
    let dir = scratch("sweep").join("report");
    let out = nines(&[
        "report",
        json.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let p = util::svg::read(&dir.join("throughput-latency.svg"));
    for text in [
        "Throughput vs p99",
        "throughput (req/s)",
        "p99 latency (µs, log scale)",
        "closed-loop steps (by connections)",
        "open-loop steps (by rate)",
        "knee",
    ] {
        assert!(p.says(text), "sweep plot lacks {text:?}: {:?}", p.texts);
    }
    assert!(
        p.line(util::svg::BLUE) >= 2 && p.line(util::svg::GREEN) >= 2,
        "a closed-loop and an open-loop curve: {p:?}"
    );
    assert!(
        p.circles.iter().any(|c| c == util::svg::RED),
        "the knee circled: {p:?}"
    );
    // Each step has its own report directory, in the table's order: its distribution and plots.
    for n in 1..=6 {
        let step = dir.join(format!("step-{n:02}"));
        let hgrm = std::fs::read_to_string(step.join("latency.hgrm")).unwrap();
        assert!(hgrm.contains("Percentile"), "{}", step.display());
        let p = util::svg::read(&step.join("latency-spectrum.svg"));
        assert!(p.line(util::svg::RED) > 2, "{}: {p:?}", step.display());
    }
    assert!(!dir.join("step-07").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("results.csv"))
            .unwrap()
            .lines()
            .count(),
        7
    );
}

#[test]
fn sweep_and_bench_usage_errors_are_one_line() {
    for (args, flag) in [
        (&["bench", "-c", "1,2"][..], "--connections"),
        (&["sweep", "--rate", "5k", "-c", "1,2"][..], "--rate"),
        (&["sweep", "--rates", "0%"][..], "--rates"),
        (&["sweep", "-c", "1,0", "-d", "100ms"][..], "--connections"),
    ] {
        let out = nines(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
    }
}
