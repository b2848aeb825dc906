//! Resources under load: a server that leaks memory (16 bytes kept per byte received) and one
//! that leaks a descriptor per read are caught, each with the rate /proc shows (within 20%),
//! said to be growing and failed by an SLO on growth (exit 3); nines-server under the same load
//! holds its descriptors flat and passes.

mod util;

use serde_json::Value;
use util::peers::leaky_echo as leaky;
use util::server::{server, stop_srv};
use util::{nines, scratch};

/// VmRSS (bytes) and open descriptors of `pid`, read here as a check on nines' own reading.
fn proc_of(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    (kib * 1024.0, fds as f64)
}

/// `nines bench 127.0.0.1:PORT --protocol PROTO --rate RATE -d SECS ...`: the report, its text
/// summary and the measured seconds.
fn load(tag: &str, port: u16, rate: &str, secs: u64, slo: &str) -> (Value, String, f64) {
    let json = scratch("resources").join(format!("{tag}.json"));
    let addr = format!("127.0.0.1:{port}");
    let d = format!("{secs}s");
    let out = nines(&[
        "bench",
        &addr,
        "--protocol",
        "echo",
        "--rate",
        rate,
        "-d",
        &d,
        "-w",
        "0s",
        "-c",
        "4",
        "-t",
        "1",
        "--slo",
        slo,
        // The clauses judge the target's growth from /proc, which a driver sending late on a
        // busy machine (schedule lag, a test beside it) does not shape.
        "--allow-invalid",
        "--json",
        json.to_str().unwrap(),
    ]);
    // Exit 0 when the SLO holds, 3 when it does not; anything else is a failed run.
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 3)),
        "{tag}: {code:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        code == Some(0),
        r["slo"]["pass"] == true,
        "{tag}: {}",
        r["slo"]
    );
    let secs = r["duration_s"].as_f64().unwrap();
    (r, String::from_utf8_lossy(&out.stdout).into_owned(), secs)
}

fn per_s(r: &Value, what: &str) -> f64 {
    r["resources"]["server"][what]["per_s"]
        .as_f64()
        .unwrap_or_else(|| panic!("no server {what} growth: {}", r["resources"]))
}

#[test]
fn a_server_leaking_memory_is_caught_at_the_rate_proc_shows() {
    let (mut child, port) = leaky("memory");
    let before = proc_of(child.id());
    // 2,000 64-byte echoes a second: 2 MiB a second kept, the server's growth by far.
    let (r, text, secs) = load("memory", port, "2000", 5, "rss_growth<=10MB/min");
    let after = proc_of(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let proc_rate = (after.0 - before.0) / secs;
    let seen = per_s(&r, "rss_bytes");
    assert!(proc_rate > 1.0e6, "the server did leak: {proc_rate} B/s");
    assert!(
        (seen - proc_rate).abs() <= 0.2 * proc_rate,
        "nines {seen} B/s, /proc {proc_rate} B/s"
    );
    assert!(
        r["resources"]["server"]["rss_bytes"]["r2"]
            .as_f64()
            .unwrap()
            > 0.9,
        "{}",
        r["resources"]
    );
    assert!(
        text.contains("GROWING") && text.contains("a leak?"),
        "{text}"
    );
}

#[test]
fn a_server_leaking_descriptors_is_caught_and_nines_server_is_flat() {
    let (mut child, port) = leaky("fds");
    let before = proc_of(child.id());
    let (r, text, secs) = load("fds", port, "200", 4, "fd_growth<=0");
    let after = proc_of(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let proc_rate = (after.1 - before.1) / secs;
    let seen = per_s(&r, "fds");
    assert!(proc_rate > 100.0, "the server did leak: {proc_rate}/s");
    assert!(
        (seen - proc_rate).abs() <= 0.2 * proc_rate,
        "nines {seen}/s, /proc {proc_rate}/s"
    );
    assert!(text.contains("descriptor leak?"), "{text}");
    assert_eq!(r["slo"]["pass"], false, "{}", r["slo"]);
    // nines-server under the same load: its descriptors do not move, nothing is said.
    let (srv, addr) = server(&["--workers", "1", "--protocol", "echo"], "");
    let (r, text, _) = load(
        "flat",
        addr.port(),
        "200",
        4,
        "fd_growth<=0,rss_growth<=10MB/min",
    );
    drop(stop_srv(srv));
    let fds = &r["resources"]["server"]["fds"];
    assert_eq!(fds["first"], fds["last"], "{}", r["resources"]);
    assert!(!text.contains("GROWING"), "{text}");
    assert_eq!(r["slo"]["pass"], true, "flat: {}", r["slo"]);
}
