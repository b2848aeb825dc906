//! The node's bounds, driven through a pipe as the harness of seed 000 drives it: a run still
//! going at the time bound stops and says how far it got, a number past a double's range is
//! answered rather than skipped, and a reader that closes stdout ends the node at once.

mod util;

use std::process::{Command, Stdio};

use util::node::{exit_status, node, node_with, replies, reply_within_5s, send};

#[test]
fn a_number_past_a_double_is_answered_with_an_error_for_its_msg_id() {
    let mut child = node();
    let mut stdin = child.stdin.take().unwrap();
    let rx = replies(&mut child);
    // Before: serde_json refused the whole line, the message got no reply, and the harness
    // waited out its timeout.
    send(
        &mut stdin,
        r#"{"src":"c1","dest":"n1","body":{"type":"bench_run","msg_id":2,"num_requests":1e400,"payload_size_bytes":64,"concurrency":1}}"#,
    );
    let b = &reply_within_5s(&rx)["body"];
    assert_eq!(
        (
            b["type"].as_str(),
            b["in_reply_to"].as_u64(),
            b["code"].as_u64()
        ),
        (Some("error"), Some(2), Some(12)),
        "{b}"
    );
    assert!(
        b["text"]
            .as_str()
            .unwrap()
            .starts_with("body.num_requests = 1e400 is out of range"),
        "{b}"
    );
    // Past a double anywhere in the message, even a field the node does not read.
    send(
        &mut stdin,
        r#"{"src":"c1","dest":"n1","body":{"type":"init","msg_id":3,"node_id":"n1","node_ids":["n1"],"weight":-9e999}}"#,
    );
    let b = &reply_within_5s(&rx)["body"];
    assert_eq!(
        (b["in_reply_to"].as_u64(), b["code"].as_u64()),
        (Some(3), Some(12))
    );
    assert!(
        b["text"].as_str().unwrap().contains("body.weight = -9e999"),
        "{b}"
    );
    // A msg_id past a double is no id to answer: logged and skipped, and the node carries on.
    send(
        &mut stdin,
        r#"{"src":"c1","dest":"n1","body":{"type":"init","msg_id":1e400,"node_id":"n1"}}"#,
    );
    send(
        &mut stdin,
        r#"{"src":"c1","dest":"n1","body":{"type":"init","msg_id":4,"node_id":"n1"}}"#,
    );
    let b = &reply_within_5s(&rx)["body"];
    assert_eq!(
        (b["type"].as_str(), b["in_reply_to"].as_u64()),
        (Some("init_ok"), Some(4))
    );
    drop(stdin);
    assert!(exit_status(&mut child).success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("body.msg_id (1e400) is past a double's range"),
        "{stderr}"
    );
}

/// "... after N of TOTAL WHAT ...": N, which must be fewer than TOTAL.
fn done_of(text: &str, total: u64, what: &str) -> u64 {
    let tail = format!(" of {total} {what}");
    let at = text.find(&tail).unwrap_or_else(|| panic!("{text}"));
    let n: u64 = text[..at].rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n < total, "{text}");
    n
}

#[test]
fn a_run_still_going_at_the_time_bound_stops_and_says_how_far_it_got() {
    // A bound far below what these take, so each one reaches it on any machine.
    let mut child = node_with(&["--run-bound", "200ms"]);
    let mut stdin = child.stdin.take().unwrap();
    let rx = replies(&mut child);
    let requests = [
        (
            r#"{"src":"c1","dest":"n1","body":{"type":"bench_run","msg_id":2,"num_requests":100000,"payload_size_bytes":64,"concurrency":1}}"#,
            "requests",
        ),
        (
            r#"{"src":"c1","dest":"n1","body":{"type":"bench_profile","msg_id":3,"num_requests":100000}}"#,
            "requests",
        ),
        (
            r#"{"src":"c1","dest":"n1","body":{"type":"bench_sweep","msg_id":4,"concurrency_levels":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}}"#,
            "levels",
        ),
    ];
    for (i, (line, what)) in requests.iter().enumerate() {
        send(&mut stdin, line);
        let b = &reply_within_5s(&rx)["body"];
        assert_eq!(
            (
                b["type"].as_str(),
                b["in_reply_to"].as_u64(),
                b["code"].as_u64()
            ),
            (Some("error"), Some(i as u64 + 2), Some(0)),
            "timeout, Maelstrom's code 0: {b}"
        );
        let text = b["text"].as_str().unwrap();
        assert!(
            text.contains("stopped at the node's 0.2 s time bound after"),
            "{text}"
        );
        let total = if *what == "levels" { 20 } else { 100_000 };
        done_of(text, total, what);
    }
    drop(stdin);
    assert!(exit_status(&mut child).success());
    // What fits the bound is answered in full (a 2 s bound: 20 requests fit it on any machine).
    let mut child = node_with(&["--run-bound", "2s"]);
    let mut stdin = child.stdin.take().unwrap();
    let rx = replies(&mut child);
    send(
        &mut stdin,
        r#"{"src":"c1","dest":"n1","body":{"type":"bench_run","msg_id":5,"num_requests":20,"payload_size_bytes":64,"concurrency":2}}"#,
    );
    let b = &reply_within_5s(&rx)["body"];
    assert_eq!(
        (b["type"].as_str(), b["in_reply_to"].as_u64()),
        (Some("bench_run_ok"), Some(5)),
        "{b}"
    );
    drop(stdin);
    assert!(exit_status(&mut child).success());

    let out = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["node", "--run-bound", "0s"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--run-bound 0s"));
}

#[test]
fn a_reader_that_closes_stdout_ends_the_node_with_a_line_on_stderr() {
    // Closed while the node waits for a line (stdin held open: it would wait for ever), and
    // closed before a reply is written.
    for line in [
        None,
        Some(r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1"}}"#),
    ] {
        let mut child = node();
        let mut stdin = child.stdin.take().unwrap();
        drop(child.stdout.take());
        if let Some(l) = line {
            send(&mut stdin, l);
        }
        let status = exit_status(&mut child);
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(1), "{line:?}: {stderr}");
        assert!(
            stderr.contains("stdout was closed by its reader") && !stderr.contains("panicked"),
            "{stderr}"
        );
        drop(stdin);
    }
}
