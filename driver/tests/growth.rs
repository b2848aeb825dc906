//! The target's growth while a run goes and after it: a server leaking memory stops a 60 s run
//! on its growth SLO within seconds of the tenth reading, keeping the result (cut short, the
//! growth said, the SLO failed: exit 3), with the growth shown every ten seconds as it goes, in
//! the report directory's resources.svg and in the diagnosis; nines-server under the same SLO
//! runs to its end; and `nines merge` of two drivers keeps what was held and its growth.

mod util;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use serde_json::Value;
use util::peers::leaky_echo;
use util::server::server;
use util::{nines, scratch};

/// A leaky_echo.py server, killed when dropped (a failed test leaves none behind).
struct Leaky(Child, u16);

impl Leaky {
    fn start(mode: &str) -> Leaky {
        let (child, port) = leaky_echo(mode);
        Leaky(child, port)
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.1)
    }
}

impl Drop for Leaky {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `nines bench ADDR --protocol echo --rate 2000 -d D -w 0s -c 4 -t 1 --slo SLO ARGS`: the exit
/// code, the report, stdout and stderr, and how long it took.
fn bench(tag: &str, addr: &str, d: &str, slo: &str, args: &[&str]) -> Run {
    let json = scratch("growth").join(format!("{tag}.json"));
    let mut all = vec![
        "bench",
        addr,
        "--protocol",
        "echo",
        "--rate",
        "2000",
        "-d",
        d,
        "-w",
        "0s",
        "-c",
        "4",
        "-t",
        "1",
        "--slo",
        slo,
        "--json",
        json.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let began = Instant::now();
    let out = nines(&all);
    let took_s = began.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&std::fs::read(&json).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{tag}: no report ({e}); stderr: {stderr}"));
    Run {
        code: out.status.code(),
        report,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
        took_s,
    }
}

struct Run {
    code: Option<i32>,
    report: Value,
    stdout: String,
    stderr: String,
    took_s: f64,
}

/// The seconds that read what was held.
fn held(r: &Value) -> Vec<&Value> {
    r["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|iv| !iv["held"].is_null())
        .collect()
}

/// A 60 s run of a server leaking 2 MiB a second under `rss_growth<=1MB/min` stops at its tenth
/// reading with exit 3 and keeps its result: cut short by the growth SLO (clause, rate, r², when),
/// the gate failed, the growth printed every ten seconds and streamed each second, named in the
/// diagnosis, and drawn in resources.svg with a point per reading.
#[test]
fn a_server_leaking_memory_stops_a_long_run_on_its_growth_slo_and_keeps_the_result() {
    let leaky = Leaky::start("memory");
    let dir = scratch("growth").join("leak-report");
    let stream = scratch("growth").join("leak-stream.jsonl");
    // 2,000 64-byte echoes a second: the server keeps 2 MiB a second, 120 times the limit.
    let run = bench(
        "leak",
        &leaky.addr(),
        "60s",
        "rss_growth<=1MB/min",
        &[
            "--progress",
            "--report",
            dir.to_str().unwrap(),
            "--stats-stream",
            stream.to_str().unwrap(),
        ],
    );
    let r = &run.report;
    assert_eq!(run.code, Some(3), "the SLO failed: {}", run.stderr);
    // Judged from the tenth reading on: stopped at it, give or take a busy second.
    let cut = &r["cut_short"];
    assert_eq!(r["status"], "cut_short", "{cut}");
    assert_eq!(cut["kind"], "growth_slo");
    assert_eq!(cut["clause"], "rss_growth<=1MB/min");
    assert_eq!(cut["grew"], "memory");
    let min_readings = nines_driver::run::MIN_READINGS as f64;
    assert!(
        (min_readings..min_readings + 5.0).contains(&f(&cut["after_s"])),
        "{cut}"
    );
    assert!(
        run.took_s < 30.0,
        "a 60 s run stopped early: {} s",
        run.took_s
    );
    assert!(f(&r["duration_s"]) < 20.0, "{}", r["duration_s"]);
    assert!(f(&cut["r2"]) >= nines_driver::run::CERTAIN_R2, "{cut}");
    assert!(f(&cut["per_s"]) > 1_048_576.0 / 60.0 * 10.0, "{cut}");
    // The result kept: the gate's verdict on the growth up to the stop, and why it stopped.
    let clause = &r["slo"]["clauses"][0];
    assert_eq!(
        (&r["slo"]["pass"], &clause["pass"]),
        (&false.into(), &false.into())
    );
    assert!(
        f(&clause["measured"]) > f(&clause["clause"]["bound"]),
        "{clause}"
    );
    assert!(
        run.stdout
            .contains("CUT SHORT   growth SLO rss_growth<=1MB/min passed: +"),
        "{}",
        run.stdout
    );
    // Shown as it went: the tenth second's growth line on the progress output.
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("] server "))
        .unwrap_or_else(|| panic!("no growth line: {}", run.stderr));
    assert!(
        line.contains("MiB/min (r² ") && line.contains(" fds "),
        "{line}"
    );
    // ... and in the stats stream, each second with what was held.
    let lines = std::fs::read_to_string(&stream).unwrap();
    let streamed: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let read = held(r);
    assert_eq!(
        streamed.iter().filter(|l| !l["held"].is_null()).count(),
        read.len()
    );
    assert!(streamed
        .iter()
        .filter(|l| !l["held"].is_null())
        .all(|l| l["held"]["server"]["rss_bytes"].as_u64() > Some(0)));
    // The diagnosis names the growth.
    let growth: Vec<&Value> = r["diagnosis"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "server_growth")
        .collect();
    assert_eq!(growth.len(), 1, "{}", r["diagnosis"]);
    let said = growth[0]["evidence"].as_str().unwrap();
    assert!(
        said.starts_with("the server's RSS grew ") && said.contains("a leak?"),
        "{said}"
    );
    // The report directory's resources.svg: the server's line (red) and the driver's (blue), a
    // point for each second that read them, in both panels.
    let plot = util::svg::read(&dir.join("resources.svg"));
    assert!(
        plot.says("RSS (MiB)") && plot.says("open descriptors"),
        "{:?}",
        plot.texts
    );
    assert!(
        plot.says("server") && plot.says("driver"),
        "{:?}",
        plot.texts
    );
    assert_eq!(
        (plot.line(util::svg::RED), plot.line(util::svg::BLUE)),
        (read.len(), read.len()),
        "{:?}",
        plot.lines
    );
    // Two lines a panel (the legend's samples are short lines of two points).
    let data = plot.lines.iter().filter(|(_, n)| *n == read.len());
    assert_eq!(data.count(), 4, "{:?}", plot.lines);
}

/// nines-server holds its memory and descriptors flat: the same SLO, judged from the tenth second
/// on, never stops its run, which completes and passes.
#[test]
fn nines_server_under_the_same_slo_runs_to_its_end() {
    let (_srv, addr) = server(&["--workers", "1", "--protocol", "echo"], "");
    let run = bench(
        "flat",
        &addr.to_string(),
        "12s",
        "rss_growth<=1MB/min,fd_growth<=0",
        // Growth is judged from /proc; a driver sending late on a busy machine does not shape it.
        &["-q", "--allow-invalid"],
    );
    let r = &run.report;
    assert_eq!(r["status"], "completed", "{}", run.stdout);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(f(&r["duration_s"]) >= 12.0, "{}", r["duration_s"]);
    // Judged each second from the tenth reading on, and never passed.
    assert!(
        held(r).len() >= nines_driver::run::MIN_READINGS,
        "{}",
        r["intervals"]
    );
    assert_eq!(r["slo"]["pass"], true, "{}", r["slo"]);
}

/// Two drivers loading one leaking server together, merged: each second keeps the target's
/// reading of the first part and the sum of the drivers' own (none where a part read nothing),
/// and the growth is fitted again over the merged seconds.
#[test]
fn merging_two_drivers_keeps_the_targets_growth_and_adds_the_drivers() {
    let leaky = Leaky::start("memory");
    let d = scratch("growth-merge");
    // Both start measuring at the same Unix time, so their seconds fall together.
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        + 2.0;
    let runs: Vec<_> = ["a", "b"]
        .iter()
        .map(|part| {
            let json = d.join(format!("{part}.json"));
            let child = Command::new(env!("CARGO_BIN_EXE_nines"))
                .args([
                    "bench",
                    &leaky.addr(),
                    "--protocol",
                    "echo",
                    "--rate",
                    "1000",
                ])
                .args(["-d", "4s", "-w", "0s", "-c", "2", "-t", "1", "-q"])
                .args(["--start-at", &start.to_string(), "--json"])
                .arg(&json)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (json, child)
        })
        .collect();
    let parts = util::wait_all(runs);
    let merged = d.join("merged.json");
    util::merge_ok(&merged, &parts);
    let read = |p: &std::path::Path| -> Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let (a, b, m) = (read(&parts[0]), read(&parts[1]), read(&merged));
    // Each part's seconds by where they fall in the merged span (as merge places them).
    let merge_start = f(&a["measure_start_unix_s"]).min(f(&b["measure_start_unix_s"]));
    let seconds = |r: &Value| -> BTreeMap<u64, Value> {
        r["intervals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|iv| {
                let at = f(&r["measure_start_unix_s"]) + f(&iv["start_s"]) - merge_start;
                (at.max(0.0).round() as u64, iv["held"].clone())
            })
            .collect()
    };
    let (sa, sb) = (seconds(&a), seconds(&b));
    let mut both = 0;
    for iv in m["intervals"].as_array().unwrap() {
        let at = f(&iv["start_s"]) as u64;
        let parts_held: Vec<&Value> = [sa.get(&at), sb.get(&at)].into_iter().flatten().collect();
        let h = &iv["held"];
        if parts_held.iter().any(|p| p.is_null()) {
            assert!(h.is_null(), "second {at}: a part did not read it: {h}");
            continue;
        }
        both += usize::from(parts_held.len() == 2);
        // The server as the first part read it; the drivers' own added.
        assert_eq!(h["server"], parts_held[0]["server"], "second {at}");
        for k in ["rss_bytes", "fds", "threads"] {
            let sum: u64 = parts_held
                .iter()
                .map(|p| p["driver"][k].as_u64().unwrap())
                .sum();
            assert_eq!(h["driver"][k].as_u64(), Some(sum), "second {at}: {k}");
        }
    }
    assert!(
        both >= 2,
        "the parts read the same seconds: {}",
        m["intervals"]
    );
    // The growth fitted again over the merged seconds: the server's grew, from its first
    // merged reading to its last.
    let merged_held = held(&m);
    let rss = &m["resources"]["server"]["rss_bytes"];
    assert!(f(&rss["per_s"]) > 0.0, "{}", m["resources"]);
    assert_eq!(
        (&rss["first"], &rss["last"]),
        (
            &merged_held[0]["held"]["server"]["rss_bytes"],
            &merged_held[merged_held.len() - 1]["held"]["server"]["rss_bytes"]
        )
    );
    assert_eq!(
        m["resources"]["driver"]["rss_bytes"]["first"],
        merged_held[0]["held"]["driver"]["rss_bytes"]
    );
}
