//! Results people kept still open: files saved by the release before the load and the request
//! became single values (`nines-report/1`, `nines-sweep/1`, in tests/fixtures/v1 with what that
//! release's `nines report` printed for each) are read by `nines report`, `merge` and `compare`
//! with the same figures — converted as they are read.

mod util;

use std::path::PathBuf;

use serde_json::Value;
use util::{ok, scratch};

/// The saved runs: closed and open loop, a storm, HTTP, Redis, WebSocket, echo, and a merge.
const RUNS: [&str; 8] = [
    "closed", "open", "storm", "http", "redis", "ws", "echo", "merged",
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/v1/{name}"))
}

fn path(name: &str) -> String {
    fixture(name).to_str().unwrap().to_string()
}

fn saved(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap()
}

#[test]
fn a_saved_v1_run_prints_exactly_what_its_release_printed() {
    for name in RUNS {
        let then = std::fs::read_to_string(fixture(&format!("{name}.txt"))).unwrap();
        let now = ok(&["report", &path(&format!("{name}.json"))]);
        assert_eq!(now, then, "{name}");
    }
    let then = std::fs::read_to_string(fixture("sweep.txt")).unwrap();
    assert_eq!(ok(&["report", &path("sweep.json")]), then, "sweep");
}

#[test]
fn a_saved_v1_run_reads_as_today_with_its_figures_and_its_load() {
    let models = [
        ("closed", "closed_loop"),
        ("open", "open_loop"),
        ("storm", "storm"),
        ("http", "closed_loop"),
        ("redis", "closed_loop"),
        ("ws", "open_loop"),
        ("echo", "closed_loop"),
        ("merged", "mixed"),
    ];
    for (name, model) in models {
        let old = saved(&format!("{name}.json"));
        let new: Value = serde_json::from_str(&ok(&[
            "report",
            &path(&format!("{name}.json")),
            "--format",
            "json",
        ]))
        .unwrap();
        assert_eq!(new["format"], "nines-report/2", "{name}");
        assert_eq!(new["load"]["model"], model, "{name}");
        for key in [
            "throughput_rps",
            "requests",
            "errors",
            "duration_s",
            "latency_us",
            "latency_uncorrected_us",
            "errors_by_kind",
            "warmup",
            "driver",
            "server_cpu",
            "histograms",
            "intervals",
            "started_unix_s",
        ] {
            assert_eq!(new[key], old[key], "{name}: {key}");
        }
        // What the old report kept in `open_loop` and `storm` is in `load`, figure for figure.
        for (k, v) in old["open_loop"]
            .as_object()
            .into_iter()
            .chain(old["storm"].as_object())
            .flatten()
        {
            assert_eq!(&new["load"][k], v, "{name}: load.{k}");
        }
    }
    // The configuration in the manifest is today's shape with the same settings.
    let open =
        serde_json::from_str::<Value>(&ok(&["report", &path("open.json"), "--format", "json"]))
            .unwrap();
    let c = &open["manifest"]["config"];
    assert_eq!(c["load"]["rate_per_s"], 5000.0);
    assert_eq!(c["load"]["arrival"], "poisson");
    assert_eq!(
        c["request"],
        serde_json::json!({"protocol": "nines", "op": "echo", "payload_bytes": 64})
    );
    assert_eq!(c["target"]["embedded"]["server_workers"], 1);
    let http =
        serde_json::from_str::<Value>(&ok(&["report", &path("http.json"), "--format", "json"]))
            .unwrap();
    let r = &http["manifest"]["config"]["request"];
    assert_eq!(
        (r["protocol"].as_str(), r["path"].as_str()),
        (Some("http"), Some("/missing"))
    );
    assert_eq!(
        (r["headers"][0].as_str(), r["accept"][0].as_u64()),
        (Some("X-Test: 1"), Some(404))
    );
    let redis =
        serde_json::from_str::<Value>(&ok(&["report", &path("redis.json"), "--format", "json"]))
            .unwrap();
    assert_eq!(
        redis["manifest"]["config"]["request"]["command"],
        "SET key:__rand__ __data__"
    );
}

#[test]
fn v1_csv_rows_keep_their_figures_and_now_name_a_storm() {
    for name in RUNS {
        let then = std::fs::read_to_string(fixture(&format!("{name}.csv"))).unwrap();
        let now = ok(&["report", &path(&format!("{name}.json")), "--format", "csv"]);
        let (then, now) = (then.lines().nth(1).unwrap(), now.lines().nth(1).unwrap());
        let fields = |row: &str| -> Vec<String> {
            // Targets of merged results hold a comma inside quotes.
            let mut out = Vec::new();
            let (mut cur, mut quoted) = (String::new(), false);
            for ch in row.chars() {
                match ch {
                    '"' => quoted = !quoted,
                    ',' if !quoted => out.push(std::mem::take(&mut cur)),
                    c => cur.push(c),
                }
            }
            out.push(cur);
            out
        };
        let (then, now) = (fields(then), fields(now));
        // Every figure from `status` (column 9) on is the same; the old release named a storm
        // closed_loop and gave it a pipeline, which it does not have.
        assert_eq!(then[8..26], now[8..26], "{name}");
        let mode = match name {
            "storm" => "storm",
            "merged" => "mixed",
            _ => then[1].as_str(),
        };
        assert_eq!(now[1], mode, "{name}");
    }
}

#[test]
fn v1_results_merge_and_compare_with_the_same_figures() {
    let d = scratch("compat");
    let merged = d.join("merged.json");
    ok(&[
        "merge",
        &path("closed.json"),
        &path("open.json"),
        "--json",
        merged.to_str().unwrap(),
    ]);
    let now: Value = serde_json::from_slice(&std::fs::read(&merged).unwrap()).unwrap();
    let then = saved("merged.json");
    for key in [
        "requests",
        "errors",
        "latency_us",
        "latency_uncorrected_us",
        "histograms",
    ] {
        assert_eq!(now[key], then[key], "merged {key}");
    }
    let rel = |a: &Value, b: &Value| (a.as_f64().unwrap() / b.as_f64().unwrap() - 1.0).abs();
    assert!(rel(&now["throughput_rps"], &then["throughput_rps"]) < 1e-9);

    let table = ok(&["compare", &path("closed.json"), &path("open.json")]);
    let closed = saved("closed.json");
    let rps = closed["throughput_rps"].as_f64().unwrap().round() as u64;
    let shown = table
        .lines()
        .find(|l| l.trim_start().starts_with("throughput req/s"))
        .unwrap()
        .replace(',', "");
    assert!(shown.contains(&rps.to_string()), "{rps} in {table}");
    assert!(
        table.contains("driver lag p99 µs"),
        "the open loop's lag: {table}"
    );

    let sweeps = ok(&["compare", &path("sweep.json"), &path("sweep.json")]);
    assert!(
        sweeps.contains("== 8 connection(s), closed loop")
            && sweeps.contains("50% of peak, open loop"),
        "{sweeps}"
    );
    let out = d.join("sweep-dir");
    ok(&[
        "report",
        &path("sweep.json"),
        "--out",
        out.to_str().unwrap(),
    ]);
    for f in [
        "summary.md",
        "results.csv",
        "throughput-latency.svg",
        "step-04/result.json",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
}
