//! Shared helpers: run the real `nines` binary, and a scratch directory per test file.

#![allow(dead_code)] // Each test file uses a different subset.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Runs `nines ARGS` to completion, stdin closed.
pub fn nines(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run nines")
}

/// Runs `nines ARGS`, which must succeed; its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = nines(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `nines bench -t 1 -w 0s -q --json FILE ARGS` (one driver thread, no warm-up: every
/// reply is measured), FILE under the scratch directory `dir`; the exit code and the report.
pub fn bench_report(dir: &str, tag: &str, args: &[&str]) -> (i32, serde_json::Value) {
    let json = scratch(dir).join(format!("{tag}.json"));
    let path = json.to_str().unwrap().to_string();
    let mut all = vec!["bench", "-t", "1", "-w", "0s", "-q", "--json", &path];
    all.extend_from_slice(args);
    let out = nines(&all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = serde_json::from_slice(&std::fs::read(&json).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{tag}: no report ({e}); stderr: {stderr}"));
    (out.status.code().unwrap_or(-1), report)
}

/// A scratch directory for this test process, named for `tag`.
pub fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nines-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
pub mod certs;
pub mod hostile_tls;
pub mod node;
pub mod peers;
pub mod server;
pub mod svg;
pub mod tls_peers;

/// Reads `child`'s stderr until a progress line reports measured replies; the lines after it.
pub fn measuring(child: &mut std::process::Child) -> impl Iterator<Item = String> {
    use std::io::BufRead as _;
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr piped"))
        .lines()
        .map_while(Result::ok);
    assert!(
        lines.by_ref().any(|l| l.contains("req/s")),
        "a second of measurement was reported"
    );
    lines
}

/// Waits for each started `nines` (with the file it writes), each of which must succeed; the
/// files, in order.
pub fn wait_all(runs: Vec<(PathBuf, std::process::Child)>) -> Vec<PathBuf> {
    runs.into_iter()
        .map(|(file, child)| {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            file
        })
        .collect()
}

/// `nines merge PARTS --json OUT`, which must succeed.
pub fn merge_ok(out: &std::path::Path, parts: &[PathBuf]) {
    let mut args = vec!["merge"];
    args.extend(parts.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--json", out.to_str().unwrap()]);
    ok(&args);
}
