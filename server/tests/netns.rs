//! scripts/netns-lab.sh end to end: two network namespaces joined by a veth pair, the real
//! server in one and the real driver in the other. It needs root (network namespaces need
//! CAP_SYS_ADMIN), so it is ignored unless asked for: CI runs as root with `--include-ignored`,
//! and then a missing prerequisite is a failure that names it, never a silent pass.

use std::path::Path;
use std::process::Command;

#[test]
#[ignore = "needs root"]
fn a_benchmark_runs_across_two_network_namespaces_and_cleans_up() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root_user = unsafe { libc::geteuid() } == 0;
    assert!(
        root_user,
        "needs root: network namespaces need CAP_SYS_ADMIN"
    );
    let ip = Command::new("sh").args(["-c", "command -v ip"]).output();
    assert!(
        ip.is_ok_and(|o| o.status.success()),
        "needs ip(8) (iproute2)"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let lab = format!("n9t{}", std::process::id() % 100_000);
    // The test binaries' directory holds the debug nines-server; the driver binary is built by
    // the workspace build that precedes the tests.
    let bin = Path::new(env!("CARGO_BIN_EXE_nines-server"))
        .parent()
        .unwrap();
    assert!(
        bin.join("nines").exists(),
        "{} has no nines binary: build the workspace first (cargo build --workspace)",
        bin.display()
    );
    let out = Command::new("bash")
        .arg(root.join("scripts/netns-lab.sh"))
        .args(["1", "--", "--json", "-"])
        .env("LAB", &lab)
        .env("NINES_BIN", bin)
        .env("SERVER_SYSCTL", "net.core.somaxconn=1024")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "netns-lab failed:\n{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("driver JSON on stdout");
    assert!(v["target"].as_str().unwrap().starts_with("10.99.0.1:"));
    assert!(v["requests"].as_u64().unwrap() > 0);
    assert_eq!(v["errors"], 0);
    // The driver's namespace cannot see the server's socket in /proc, so the server's CPU came
    // from its own Stats replies: its one worker's time, named, within the total.
    let cpu = &v["server_cpu"];
    assert_eq!(cpu["busiest_thread"], "nines-worker-0 (Stats op)", "{v}");
    let (busiest, total) = (
        cpu["busiest_thread_pct"].as_f64().unwrap(),
        cpu["total_pct"].as_f64().unwrap(),
    );
    assert!(busiest > 0.0 && busiest <= total + 1e-9, "{cpu}");
    assert!(
        stderr.contains(&format!("in namespace {lab}-srv")),
        "{stderr}"
    );
    // Both namespaces are gone afterwards.
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&list.stdout).contains(&lab));
}
