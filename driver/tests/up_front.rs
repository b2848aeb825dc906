//! What the driver can see before the load starts is refused before it, exit status 2 and one
//! line naming what to do: a port that is no port, more connections than one process's
//! descriptors hold (for a storm too, with the `--processes` that would hold them), and
//! `--source` addresses that cannot reach the target or that the command does not use.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Most a refusal may take: far below the runs the cases ask for (60 s).
const REFUSED_WITHIN: Duration = Duration::from_secs(10);

/// `nines ARGS` under a descriptor limit of 4,000 (soft and hard), whatever this machine's is,
/// so the bounds in the messages are the same everywhere.
fn nines_limited(args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 4000 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_nines"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run nines")
}

#[test]
fn what_can_be_seen_before_the_load_is_refused_before_it() {
    for (args, says) in [
        (
            &["bench", "127.0.0.1:99999", "-d", "60s"][..],
            "TARGET `127.0.0.1:99999`: port 99999 is out of range: allowed 1 to 65535",
        ),
        (
            &["bench", "127.0.0.1:", "-d", "60s"],
            "TARGET `127.0.0.1:`: `` is not a port: give a number, 1 to 65535",
        ),
        (
            &["storm", "ws://127.0.0.1:0/x"],
            "port 0 is out of range: allowed 1 to 65535",
        ),
        (
            &["storm", "-c", "0"],
            "--connections 0 is out of range: allowed 1 to ",
        ),
        (
            &["storm", "-c", "0", "--processes", "2"],
            "--connections 0 is out of range: allowed 1 to ",
        ),
        (
            &["storm", "127.0.0.1:1", "-c", "100000", "-t", "1"],
            "allowed 1 to 3,934 (each connection is a descriptor, and this process may open 4,000",
        ),
        (
            &["storm", "127.0.0.1:1", "-c", "100000", "-t", "1"],
            "spread the storm over driver processes (give --processes 26)",
        ),
        (
            &["storm", "127.0.0.1:1", "-c", "300000", "-t", "1"],
            "that takes 77 processes, more than the 64 --processes starts",
        ),
        (
            &[
                "storm",
                "127.0.0.1:1",
                "-c",
                "100000",
                "-t",
                "1",
                "--processes",
                "3",
            ],
            "100,000: 33,334 per process over 3 processes, where one process holds 3,934",
        ),
        (
            &["bench", "--source", "127.0.0.2", "-d", "60s"],
            "--source is for `nines storm`",
        ),
        (
            &["storm", "--source", "::1", "-c", "10", "-d", "60s"],
            "--source ::1 is IPv6, the target 127.0.0.1 IPv4",
        ),
        (
            &[
                "storm",
                "--source",
                "::1,::1",
                "-c",
                "10",
                "-d",
                "60s",
                "--processes",
                "2",
            ],
            "--source ::1 is IPv6, the target 127.0.0.1 IPv4",
        ),
        (
            &["storm", "--source", "192.0.2.1", "-c", "10", "-d", "60s"],
            "--source 192.0.2.1: cannot connect from it",
        ),
    ] {
        let started = Instant::now();
        let out = nines_limited(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: no run, no summary");
        assert!(
            started.elapsed() < REFUSED_WITHIN,
            "{args:?}: refused before any load"
        );
    }
}

#[test]
fn a_storm_over_processes_at_a_target_that_does_not_answer_says_so_once() {
    // Nothing listens on port 1: the parent says so once, before starting a process.
    let out = nines_limited(&["storm", "127.0.0.1:1", "-c", "10", "--processes", "2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("127.0.0.1:1") && err.contains("refused"),
        "{err}"
    );
}

#[test]
fn the_soft_descriptor_limit_is_raised_before_connections_are_checked() {
    // A soft limit of 1,024 under a hard one of 4,000 (systemd's default shape): nines raises
    // the soft limit itself, so 2,000 connections to one address are within it.
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -Sn 1024 && ulimit -Hn 4000 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_nines"))
        .args(["bench", "127.0.0.1:1", "-c", "2000", "-t", "1", "-d", "1s"])
        .stdin(Stdio::null())
        .output()
        .expect("run nines");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("--connections"), "{err}");
    // It gets as far as the target, where nothing listens.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
}
