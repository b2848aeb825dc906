//! `nines node`: the JSON-lines benchmark node of seed 000, served by the real driver and server.
//!
//! A harness writes one JSON message per line on stdin (`{"src", "dest", "body": {"type",
//! "msg_id", ...}}`) and reads one reply per line on stdout; logs go to stderr. Every benchmark
//! runs through the same code as `nines bench` and `nines profile`, against one nines-server
//! started in this process on first use and reused after. Replies are written as Python's
//! `json.dumps` writes them (`", "` and `": "`, keys in order), which is what the seed shows.
//!
//! The harness gives each reply 5 s, so requests are capped (below) to finish well inside that on
//! a 2-core machine; anything that cannot be served in time, or makes no sense, gets a Maelstrom
//! error reply (`type: "error"`, `code`, `text`) and the node goes on with the next line.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::config::{BenchConfig, StopAt};
use crate::profile::profile;
use crate::report::Report;
use crate::run::{run, start_embedded, Hooks};

/// Most requests one bench_run or bench_profile may ask for.
pub const MAX_REQUESTS: u64 = 100_000;
/// Most connections one run may use.
pub const MAX_CONCURRENCY: u64 = 1_000;
/// Largest payload per request.
pub const MAX_PAYLOAD_BYTES: u64 = 64 * 1024;
/// Most bytes one run may echo (requests × payload), so big payloads stay inside the timeout.
pub const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;
/// Most levels in one bench_sweep.
pub const MAX_SWEEP_LEVELS: usize = 20;
/// Requests per sweep level unless the message says otherwise.
pub const DEFAULT_SWEEP_REQUESTS: u64 = 5_000;
/// Requests for a bench_profile unless the message says otherwise.
pub const DEFAULT_PROFILE_REQUESTS: u64 = 1_000;

/// Maelstrom error codes used here.
mod code {
    /// The message type is not one this node serves.
    pub const NOT_SUPPORTED: u64 = 10;
    /// The request is malformed or asks for something that cannot be served.
    pub const MALFORMED_REQUEST: u64 = 12;
    /// The benchmark itself failed.
    pub const CRASH: u64 = 13;
}

/// A request error: (Maelstrom code, text).
type Reject = (u64, String);

/// The node's state across messages.
pub struct Node {
    node_id: Option<String>,
    next_msg_id: u64,
    server: Option<nines_server::ServerHandle>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("node_id", &self.node_id)
            .field("next_msg_id", &self.next_msg_id)
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
        }
    }

    /// Serves lines from `input` until EOF, writing replies to `output` and log lines to `log`.
    pub fn serve(
        &mut self,
        input: impl BufRead,
        mut output: impl Write,
        mut log: impl Write,
    ) -> std::io::Result<()> {
        for line in input.lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            if let Some(reply) = self.handle_line(&line, &mut log) {
                output.write_all(python_json(&reply).as_bytes())?;
                output.write_all(b"\n")?;
                output.flush()?;
            }
        }
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
        Ok(())
    }

    /// The reply to one line, or None (logged) when there is no one to reply to.
    pub fn handle_line(&mut self, line: &str, log: &mut dyn Write) -> Option<Value> {
        let msg: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                let _ = writeln!(
                    log,
                    "nines node: ignoring a line that is not JSON ({e}): {line}"
                );
                return None;
            }
        };
        let src = msg.get("src").and_then(Value::as_str).map(str::to_string);
        let dest = msg.get("dest").and_then(Value::as_str).map(str::to_string);
        let body = msg.get("body").and_then(Value::as_object);
        let msg_id = body.and_then(|b| b.get("msg_id")).and_then(Value::as_u64);
        let (Some(src), Some(body), Some(msg_id)) = (src, body, msg_id) else {
            let _ = writeln!(
                log,
                "nines node: ignoring a message without src, body or a numeric body.msg_id: {line}"
            );
            return None;
        };
        let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
        let started = Instant::now();
        let result = match kind {
            "init" => self.init(body),
            "bench_run" => self.bench_run(body),
            "bench_profile" => self.bench_profile(body),
            "bench_sweep" => self.bench_sweep(body),
            "" => Err((code::MALFORMED_REQUEST, "body.type is missing or not a string".to_string())),
            other => Err((code::NOT_SUPPORTED, format!("message type `{other}` is not supported (init, bench_run, bench_profile, bench_sweep)"))),
        };
        let _ = writeln!(
            log,
            "nines node: {kind} {msg_id} handled in {} ms",
            started.elapsed().as_millis()
        );
        let mut reply = Map::new();
        match result {
            Ok((reply_type, fields)) => {
                reply.insert("type".into(), json!(reply_type));
                reply.insert("in_reply_to".into(), json!(msg_id));
                reply.insert("msg_id".into(), json!(self.take_msg_id()));
                reply.extend(fields);
            }
            Err((code, text)) => {
                reply.insert("type".into(), json!("error"));
                reply.insert("in_reply_to".into(), json!(msg_id));
                reply.insert("msg_id".into(), json!(self.take_msg_id()));
                reply.insert("code".into(), json!(code));
                reply.insert("text".into(), json!(text));
            }
        }
        let me = self.node_id.clone().or(dest).unwrap_or_default();
        Some(json!({"src": me, "dest": src, "body": Value::Object(reply)}))
    }

    fn take_msg_id(&mut self) -> u64 {
        let id = self.next_msg_id;
        self.next_msg_id += 1;
        id
    }

    fn init(
        &mut self,
        body: &Map<String, Value>,
    ) -> Result<(&'static str, Map<String, Value>), Reject> {
        let id = body.get("node_id").and_then(Value::as_str).ok_or((
            code::MALFORMED_REQUEST,
            "init needs node_id (a string)".to_string(),
        ))?;
        self.node_id = Some(id.to_string());
        Ok(("init_ok", Map::new()))
    }

    /// The reused in-process server's address (started on first use).
    fn server_addr(&mut self) -> Result<String, Reject> {
        if self.server.is_none() {
            let cfg = BenchConfig {
                server_workers: 1,
                ..BenchConfig::default()
            };
            let s = start_embedded(&cfg).map_err(|e| (code::CRASH, e.to_string()))?;
            self.server = Some(s);
        }
        Ok(self
            .server
            .as_ref()
            .map(|s| s.local_addr().to_string())
            .unwrap_or_default())
    }

    fn config(
        &mut self,
        requests: u64,
        concurrency: u64,
        payload: u64,
    ) -> Result<BenchConfig, Reject> {
        if payload.saturating_mul(requests) > MAX_TOTAL_BYTES {
            return Err((
                code::MALFORMED_REQUEST,
                format!("num_requests x payload_size_bytes must be at most {MAX_TOTAL_BYTES} bytes to finish within the 5 s reply timeout"),
            ));
        }
        let cfg = BenchConfig {
            target: Some(self.server_addr()?),
            threads: 1,
            connections: concurrency as usize,
            pipeline: 1,
            stop: StopAt::Requests(requests),
            warmup: Duration::ZERO,
            request: crate::target::RequestSpec {
                payload_bytes: payload as usize,
                ..Default::default()
            },
            max_errors: 1,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(3),
            drain_timeout: Duration::from_secs(1),
            ..BenchConfig::default()
        };
        match cfg.validate().first() {
            Some(e) => Err((code::MALFORMED_REQUEST, e.to_string())),
            None => Ok(cfg),
        }
    }

    fn bench_run(
        &mut self,
        body: &Map<String, Value>,
    ) -> Result<(&'static str, Map<String, Value>), Reject> {
        let requests = field(body, "num_requests", 1, MAX_REQUESTS, None)?;
        let payload = field(body, "payload_size_bytes", 1, MAX_PAYLOAD_BYTES, None)?;
        let concurrency = field(body, "concurrency", 1, MAX_CONCURRENCY, None)?;
        let cfg = self.config(requests, concurrency, payload)?;
        let started = Instant::now();
        let r = run(&cfg, &mut Hooks::default()).map_err(|e| (code::CRASH, e.to_string()))?;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        if !r.completed() || r.requests != requests {
            return Err((
                code::CRASH,
                format!(
                    "the run did not complete: {} of {requests} replies, errors {:?}",
                    r.requests,
                    serde_json::to_string(&r.errors_by_kind).unwrap_or_default()
                ),
            ));
        }
        let l = r.latency_us.unwrap_or_default();
        let mut m = Map::new();
        m.insert("throughput_rps".into(), json!(round2(r.throughput_rps)));
        m.insert("latency_p50_us".into(), json!(l.p50));
        m.insert("latency_p95_us".into(), json!(l.p95));
        m.insert("latency_p99_us".into(), json!(l.p99));
        m.insert("elapsed_ms".into(), json!(round2(elapsed_ms)));
        Ok(("bench_run_ok", m))
    }

    fn bench_profile(
        &mut self,
        body: &Map<String, Value>,
    ) -> Result<(&'static str, Map<String, Value>), Reject> {
        let requests = field(
            body,
            "num_requests",
            1,
            MAX_REQUESTS,
            Some(DEFAULT_PROFILE_REQUESTS),
        )?;
        let cfg = self.config(requests, 8.min(requests), 64)?;
        let r = profile(&cfg, &mut Hooks::default()).map_err(|e| (code::CRASH, e.to_string()))?;
        let p = r
            .profile
            .as_ref()
            .ok_or((code::CRASH, "the profile run measured nothing".to_string()))?;
        let mut breakdown = Map::new();
        breakdown.insert("accept_pct".into(), json!(p.accept_pct));
        breakdown.insert("read_pct".into(), json!(p.read_pct));
        breakdown.insert("process_pct".into(), json!(p.process_pct));
        breakdown.insert("write_pct".into(), json!(p.write_pct));
        breakdown.insert("overhead_pct".into(), json!(p.overhead_pct));
        let mut m = Map::new();
        m.insert("breakdown".into(), Value::Object(breakdown));
        m.insert("bottleneck".into(), json!(p.bottleneck));
        Ok(("bench_profile_ok", m))
    }

    fn bench_sweep(
        &mut self,
        body: &Map<String, Value>,
    ) -> Result<(&'static str, Map<String, Value>), Reject> {
        let levels = body
            .get("concurrency_levels")
            .and_then(Value::as_array)
            .ok_or((
                code::MALFORMED_REQUEST,
                "bench_sweep needs concurrency_levels (a list of whole numbers)".to_string(),
            ))?;
        if levels.is_empty() || levels.len() > MAX_SWEEP_LEVELS {
            return Err((
                code::MALFORMED_REQUEST,
                format!("concurrency_levels must have 1 to {MAX_SWEEP_LEVELS} entries"),
            ));
        }
        let requests = field(
            body,
            "num_requests",
            1,
            MAX_REQUESTS / levels.len() as u64,
            Some(DEFAULT_SWEEP_REQUESTS),
        )?;
        let mut parsed = Vec::with_capacity(levels.len());
        for v in levels {
            match v.as_u64() {
                Some(c) if (1..=MAX_CONCURRENCY).contains(&c) => parsed.push(c),
                _ => {
                    return Err((
                        code::MALFORMED_REQUEST,
                        format!("each concurrency level must be a whole number from 1 to {MAX_CONCURRENCY}, got {v}"),
                    ))
                }
            }
        }
        let mut results = Vec::with_capacity(parsed.len());
        for c in parsed {
            let cfg = self.config(requests, c, 64)?;
            let r: Report =
                run(&cfg, &mut Hooks::default()).map_err(|e| (code::CRASH, e.to_string()))?;
            if !r.completed() {
                return Err((
                    code::CRASH,
                    format!(
                        "the run at concurrency {c} did not complete: {}",
                        serde_json::to_string(&r.errors_by_kind).unwrap_or_default()
                    ),
                ));
            }
            let mut m = Map::new();
            m.insert("concurrency".into(), json!(c));
            m.insert("throughput_rps".into(), json!(round2(r.throughput_rps)));
            m.insert(
                "latency_p50_us".into(),
                json!(r.latency_us.unwrap_or_default().p50),
            );
            results.push(Value::Object(m));
        }
        let mut m = Map::new();
        m.insert("results".into(), Value::Array(results));
        Ok(("bench_sweep_ok", m))
    }
}

/// A whole-number field in `lo..=hi`, or its default when absent and one is given.
fn field(
    body: &Map<String, Value>,
    name: &str,
    lo: u64,
    hi: u64,
    default: Option<u64>,
) -> Result<u64, Reject> {
    let v = match (body.get(name), default) {
        (None, Some(d)) => return Ok(d),
        (None, None) => return Err((code::MALFORMED_REQUEST, format!("{name} is missing"))),
        (Some(v), _) => v,
    };
    match v.as_u64() {
        Some(n) if (lo..=hi).contains(&n) => Ok(n),
        Some(n) => Err((
            code::MALFORMED_REQUEST,
            format!("{name} = {n} is out of range: it must be from {lo} to {hi} (the upper bound keeps each reply within the harness's 5 s)"),
        )),
        None => Err((code::MALFORMED_REQUEST, format!("{name} must be a whole number from {lo} to {hi}, got {v}"))),
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// JSON as Python's `json.dumps` writes it by default: `", "` between items, `": "` after keys.
pub fn python_json(v: &Value) -> String {
    struct PyFormatter;
    impl serde_json::ser::Formatter for PyFormatter {
        fn begin_array_value<W: ?Sized + Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first {
                Ok(())
            } else {
                w.write_all(b", ")
            }
        }
        fn begin_object_key<W: ?Sized + Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first {
                Ok(())
            } else {
                w.write_all(b", ")
            }
        }
        fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
            w.write_all(b": ")
        }
    }
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
    // Serializing a Value into a Vec cannot fail.
    serde::Serialize::serialize(v, &mut ser).expect("JSON value serializes");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_matches_the_seed_byte_for_byte() {
        let mut n = Node::new();
        let reply = n
            .handle_line(r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}"#, &mut std::io::sink())
            .unwrap();
        assert_eq!(
            python_json(&reply),
            r#"{"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": 0}}"#
        );
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
            let r = n.handle_line(line, &mut std::io::sink()).unwrap();
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
        assert!(n.handle_line("not json", &mut log).is_none());
        assert!(n
            .handle_line(r#"{"src":"c","body":{"type":"init"}}"#, &mut log)
            .is_none());
        let log = String::from_utf8(log).unwrap();
        assert!(
            log.contains("not JSON") && log.contains("without src"),
            "{log}"
        );
    }
}
