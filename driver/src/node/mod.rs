//! `nines node`: the JSON-lines benchmark node of seed 000, served by the real driver and server.
//!
//! A harness writes one JSON message per line on stdin (`{"src", "dest", "body": {"type",
//! "msg_id", ...}}`) and reads one reply per line on stdout; logs go to stderr. Every benchmark
//! runs through the same code as `nines bench` and `nines profile`, against one nines-server
//! started in this process on first use and reused after. Replies are written as Python's
//! `json.dumps` writes them (`", "` and `": "`, keys in order), which is what the seed shows.
//!
//! The harness gives each reply 5 s, so requests are capped (`requests`) and their load is
//! bounded in time too (`deadline`): a run still going at the bound stops and is answered with
//! how far it got. Anything that cannot be served in time, or makes no sense, gets a Maelstrom
//! error reply (`type: "error"`, `code`, `text`) and the node goes on with the next line. Lines
//! are read as bytes and capped (`lines`): a line that is not JSON, not UTF-8 or far too long is
//! logged (truncated, escaped) and skipped; one whose only fault is a number past a double's
//! range (`numbers`) is answered with an error naming it; and the node carries on.

mod deadline;
mod lines;
mod numbers;
mod pyjson;
mod requests;

pub use lines::{MAX_LINE_BYTES, PREVIEW_BYTES};
pub use pyjson::python_json;
pub use requests::{
    Request, DEFAULT_PROFILE_REQUESTS, DEFAULT_SWEEP_REQUESTS, MAX_CONCURRENCY, MAX_PAYLOAD_BYTES,
    MAX_REQUESTS, MAX_SWEEP_LEVELS, MAX_TOTAL_BYTES,
};

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use lines::preview;
pub(crate) use lines::{read_line, Line};

/// Maelstrom error codes used here.
pub(crate) mod code {
    /// The message type is not one this node serves.
    pub const NOT_SUPPORTED: u64 = 10;
    /// The request is malformed or asks for something that cannot be served.
    pub const MALFORMED_REQUEST: u64 = 12;
    /// The benchmark itself failed.
    pub const CRASH: u64 = 13;
    /// The run reached the node's time bound before it was done (the reply says how far it got).
    pub const TIMEOUT: u64 = 0;
}

/// A request error: (Maelstrom code, text).
pub type Reject = (u64, String);

/// One line, parsed: who sent it, the id to answer, and what it asks for (or why it cannot be
/// served). A line with no one to answer is not a Message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The sender, replied to.
    pub src: String,
    /// The node the sender addressed (the reply's `src` until `init` names the node).
    pub dest: Option<String>,
    /// `body.msg_id`, any JSON number, answered as it came.
    pub msg_id: Value,
    /// What the body asks for, checked.
    pub request: Result<Request, Reject>,
}

impl Message {
    /// Parses one line without running anything. Err is the log line for a line that gets no
    /// reply: it is not a JSON object with `src` and a `body` holding a numeric `msg_id`.
    pub fn parse(line: &[u8]) -> Result<Message, String> {
        // A number past a double's range fails the whole line; read it again with such numbers
        // marked, so the message is answered with what was wrong.
        let (msg, out_of_range): (Value, _) = match serde_json::from_slice(line) {
            Ok(v) => (v, None),
            Err(e) => numbers::mark_out_of_range(line)
                .and_then(|marked| serde_json::from_slice(&marked).ok())
                .map(|v| {
                    let found = numbers::find_marked(&v);
                    (v, found)
                })
                .ok_or_else(|| {
                    format!(
                        "nines node: skipping a line that is not JSON ({e}): {}",
                        preview(line)
                    )
                })?,
        };
        let src = msg.get("src").and_then(Value::as_str).map(str::to_string);
        let dest = msg.get("dest").and_then(Value::as_str).map(str::to_string);
        let body = msg.get("body").and_then(Value::as_object);
        // Any JSON number is a msg_id and is answered as it came (integers past 64 bits come
        // back as the nearest double, which is how serde_json reads them).
        let msg_id = body
            .and_then(|b| b.get("msg_id"))
            .filter(|v| v.is_number())
            .cloned();
        let (Some(src), Some(body), Some(msg_id)) = (src, body, msg_id) else {
            if let Some((path @ "body.msg_id", n)) =
                out_of_range.as_ref().map(|(p, n)| (p.as_str(), n))
            {
                return Err(format!(
                    "nines node: skipping a message whose {path} ({n}) is past a double's range, so there is no id to answer: {}",
                    preview(line)
                ));
            }
            return Err(format!(
                "nines node: skipping a message without src, body or a numeric body.msg_id: {}",
                preview(line)
            ));
        };
        let request = match out_of_range {
            Some((path, n)) => Err((
                code::MALFORMED_REQUEST,
                format!("{path} = {n} is out of range: a JSON number must fit a 64-bit double (at most about 1.8e308)"),
            )),
            None => Request::parse(body),
        };
        Ok(Message {
            src,
            dest,
            msg_id,
            request,
        })
    }
}

/// The node's state across messages.
pub struct Node {
    node_id: Option<String>,
    next_msg_id: u64,
    server: Option<nines_server::ServerHandle>,
    run_bound: Duration,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("node_id", &self.node_id)
            .field("next_msg_id", &self.next_msg_id)
            .field("run_bound", &self.run_bound)
            .finish()
    }
}

impl Default for Node {
    fn default() -> Self {
        Node::new()
    }
}

impl Node {
    /// A node that has not been initialised yet.
    pub fn new() -> Node {
        Node {
            node_id: None,
            next_msg_id: 0,
            server: None,
            run_bound: crate::config::defaults::NODE_RUN_BOUND,
        }
    }

    /// The same node with another bound on each request's load than
    /// [`NODE_RUN_BOUND`](crate::config::defaults::NODE_RUN_BOUND): a run still going when it
    /// passes (counted from when the message is taken) stops and is answered with how far it got.
    pub fn with_run_bound(mut self, bound: Duration) -> Node {
        self.run_bound = bound;
        self
    }

    /// Serves lines from `input` until EOF, writing replies to `output` and log lines to `log`.
    /// Only failing to write a reply ends it early; nothing a line holds does.
    pub fn serve(
        &mut self,
        mut input: impl BufRead,
        mut output: impl Write,
        mut log: impl Write,
    ) -> std::io::Result<()> {
        let mut line = Vec::new();
        loop {
            match read_line(&mut input, &mut line, MAX_LINE_BYTES)? {
                Line::Eof => break,
                Line::TooLong(n) => {
                    let _ = writeln!(
                        log,
                        "nines node: skipping a line of {n} bytes: longer than {MAX_LINE_BYTES}"
                    );
                }
                Line::Complete if line.trim_ascii().is_empty() => {}
                Line::Complete => {
                    if let Some(reply) = self.handle(&line, &mut log) {
                        output.write_all(python_json(&reply).as_bytes())?;
                        output.write_all(b"\n")?;
                        output.flush()?;
                    }
                }
            }
        }
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
        Ok(())
    }

    /// The reply to one line, or None (logged) when there is no one to reply to: the line is
    /// not a JSON object with `src` and a `body` holding a numeric `msg_id`.
    pub fn handle(&mut self, line: &[u8], log: &mut dyn Write) -> Option<Value> {
        let msg = match Message::parse(line) {
            Ok(m) => m,
            Err(skip) => {
                let _ = writeln!(log, "{skip}");
                return None;
            }
        };
        let kind = match &msg.request {
            Ok(r) => r.type_name(),
            Err(_) => "bad request",
        };
        let started = Instant::now();
        let result = msg.request.and_then(|r| self.execute(r));
        let msg_id = msg.msg_id;
        let _ = writeln!(
            log,
            "nines node: {kind} {msg_id} handled in {} ms",
            started.elapsed().as_millis()
        );
        let mut reply = Map::new();
        match result {
            Ok((reply_type, fields)) => {
                reply.insert("type".into(), json!(reply_type));
                reply.insert("in_reply_to".into(), msg_id);
                reply.insert("msg_id".into(), json!(self.take_msg_id()));
                reply.extend(fields);
            }
            Err((code, text)) => {
                reply.insert("type".into(), json!("error"));
                reply.insert("in_reply_to".into(), msg_id);
                reply.insert("msg_id".into(), json!(self.take_msg_id()));
                reply.insert("code".into(), json!(code));
                reply.insert("text".into(), json!(text));
            }
        }
        let me = self.node_id.clone().or(msg.dest).unwrap_or_default();
        Some(json!({"src": me, "dest": msg.src, "body": Value::Object(reply)}))
    }

    fn take_msg_id(&mut self) -> u64 {
        let id = self.next_msg_id;
        self.next_msg_id += 1;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_matches_the_seed_byte_for_byte() {
        let mut n = Node::new();
        let reply = n
            .handle(br#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}"#, &mut std::io::sink())
            .unwrap();
        assert_eq!(
            python_json(&reply),
            r#"{"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": 0}}"#
        );
    }

    #[test]
    fn any_numeric_msg_id_is_answered_as_it_came() {
        let mut n = Node::new();
        for id in [
            "-5",
            "0",
            "18446744073709551615",
            "1e300",
            "2.5",
            "-9223372036854775808",
        ] {
            let line = format!(
                r#"{{"src":"c","dest":"n","body":{{"type":"init","node_id":"n","msg_id":{id}}}}}"#
            );
            let r = n.handle(line.as_bytes(), &mut std::io::sink()).expect(id);
            let want: Value = serde_json::from_str(id).unwrap();
            assert_eq!(r["body"]["in_reply_to"], want, "{id}");
            assert_eq!(r["body"]["type"], "init_ok");
        }
        let mut log = Vec::new();
        assert!(n
            .handle(
                br#"{"src":"c","body":{"type":"init","msg_id":"7"}}"#,
                &mut log
            )
            .is_none());
        assert!(String::from_utf8(log)
            .unwrap()
            .contains("numeric body.msg_id"));
    }

    #[test]
    fn bad_fields_are_error_replies_with_codes() {
        let mut n = Node::new();
        let cases = [
            (
                r#"{"src":"c","dest":"n","body":{"type":"bench_run","msg_id":5}}"#,
                12,
                "num_requests is missing",
            ),
            (
                r#"{"src":"c","dest":"n","body":{"type":"bench_run","msg_id":6,"num_requests":0,"payload_size_bytes":64,"concurrency":1}}"#,
                12,
                "out of range",
            ),
            (
                r#"{"src":"c","dest":"n","body":{"type":"bench_run","msg_id":7,"num_requests":-3,"payload_size_bytes":64,"concurrency":1}}"#,
                12,
                "whole number",
            ),
            (
                r#"{"src":"c","dest":"n","body":{"type":"bench_run","msg_id":8,"num_requests":"ten","payload_size_bytes":64,"concurrency":1}}"#,
                12,
                "whole number",
            ),
            (
                r#"{"src":"c","dest":"n","body":{"type":"bench_run","msg_id":9,"num_requests":10000000,"payload_size_bytes":64,"concurrency":1}}"#,
                12,
                "5 s",
            ),
            (
                r#"{"src":"c","dest":"n","body":{"type":"bench_run","msg_id":14,"num_requests":100000,"payload_size_bytes":65536,"concurrency":1}}"#,
                12,
                "bytes",
            ),
            (
                r#"{"src":"c","dest":"n","body":{"type":"bench_sweep","msg_id":10,"concurrency_levels":[1,0]}}"#,
                12,
                "concurrency level",
            ),
            (
                r#"{"src":"c","dest":"n","body":{"type":"bench_sweep","msg_id":11,"concurrency_levels":[]}}"#,
                12,
                "entries",
            ),
            (
                r#"{"src":"c","dest":"n","body":{"type":"dance","msg_id":12}}"#,
                10,
                "not supported",
            ),
            (r#"{"src":"c","dest":"n","body":{"msg_id":13}}"#, 12, "type"),
        ];
        for (i, (line, code, text)) in cases.iter().enumerate() {
            let r = n.handle(line.as_bytes(), &mut std::io::sink()).unwrap();
            let b = &r["body"];
            assert_eq!(b["type"], "error", "{line}");
            assert_eq!(b["code"], *code, "{line}");
            assert!(
                b["text"].as_str().unwrap().contains(text),
                "{line}: {}",
                b["text"]
            );
            assert_eq!(
                b["msg_id"], i as u64,
                "msg_ids keep increasing across errors"
            );
        }
        let mut log = Vec::new();
        assert!(n.handle(b"not json", &mut log).is_none());
        assert!(n
            .handle(br#"{"src":"c","body":{"type":"init"}}"#, &mut log)
            .is_none());
        let log = String::from_utf8(log).unwrap();
        assert!(
            log.contains("not JSON") && log.contains("without src"),
            "{log}"
        );
    }
}
