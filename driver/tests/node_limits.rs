//! The node's bounds, driven through a pipe as the harness of seed 000 drives it: a number past
//! a double's range is answered rather than skipped.

mod util;

use util::node::{exit_status, node, replies, reply_within_5s, send};

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
