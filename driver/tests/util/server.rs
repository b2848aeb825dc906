//! A nines-server process started by a test (its address read from the line it prints), stopped
//! with SIGTERM when dropped, its counters read from what it prints at shutdown; and `nines
//! storm` run against it, its report read back.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::scratch;

/// The nines-server binary built beside this package's `nines`.
pub fn server_bin() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_BIN_EXE_nines")).with_file_name("nines-server");
    assert!(
        p.exists(),
        "{} not built: run `cargo build --workspace` (scripts/test.sh does)",
        p.display()
    );
    p
}

/// A server process, stopped with SIGTERM when dropped (a failed test leaves none behind; a
/// supervisor stops its own processes).
pub struct Srv(Option<Child>);

impl Drop for Srv {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            let _ = stop(child);
        }
    }
}

/// A nines-server process (`--processes` and other flags as given), and its address.
pub fn server(args: &[&str], shell_prefix: &str) -> (Srv, SocketAddr) {
    let cmd = format!(
        "{shell_prefix} exec {} --port 0 {}",
        server_bin().display(),
        args.join(" ")
    );
    let mut child = Command::new("sh")
        .args(["-c", &cmd])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("nines-server listening on ")
        .unwrap_or_else(|| panic!("server said {line:?}"))
        .parse()
        .unwrap();
    (Srv(Some(child)), addr)
}

/// Stops a server with SIGTERM; its `stopped` counters.
pub fn stop_srv(mut srv: Srv) -> String {
    stop(srv.0.take().expect("running"))
}

pub fn stop(child: Child) -> String {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn counter(stopped: &str, key: &str) -> u64 {
    stopped
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {stopped}"))
}

/// Runs `nines storm ARGS --json` (through `sh` with `shell_prefix`); exit code and report.
pub fn storm(tag: &str, args: &[String], shell_prefix: &str) -> (i32, Value) {
    let json = scratch("storm").join(format!("{tag}.json"));
    let cmd = format!(
        "{shell_prefix} exec {} storm -q --json {} {}",
        env!("CARGO_BIN_EXE_nines"),
        json.display(),
        args.join(" ")
    );
    let out = Command::new("sh").args(["-c", &cmd]).output().unwrap();
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap_or_default())
        .unwrap_or_else(|e| {
            panic!(
                "{tag}: no report ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (out.status.code().unwrap_or(-1), report)
}
