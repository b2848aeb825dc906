//! The four message types of seed 000 (init, bench_run, bench_profile, bench_sweep): each
//! field checked against the caps that keep a reply inside the harness's 5 s, then the run
//! made through the same code as `nines bench` and `nines profile`, stopped at the node's time
//! bound (`nines node --run-bound`) if it is still going.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::deadline::Deadline;
use super::{code, Node, Reject};
use crate::config::{Bench, BenchConfig, Load, NinesOp, RequestSpec, StopAt, SweepConfig, Target};
use crate::profile::profile;
use crate::run::{run, start_embedded, Hooks};
use crate::sweep::run_sweep;

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

/// A successful reply: its type and fields.
pub(super) type Reply = (&'static str, Map<String, Value>);

/// One message body, checked against the caps: what the node was asked to do. Parsing does no
/// I/O and starts nothing, so every line can be judged (and fuzzed) before anything runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `init`: the node's own id.
    Init {
        /// The id replies are sent from.
        node_id: String,
    },
    /// `bench_run`: one closed-loop run.
    Run {
        /// Replies to measure.
        requests: u64,
        /// Payload bytes per request.
        payload: u64,
        /// Connections.
        concurrency: u64,
    },
    /// `bench_profile`: one run with the server's phase profile.
    Profile {
        /// Replies to measure.
        requests: u64,
    },
    /// `bench_sweep`: one run per concurrency level.
    Sweep {
        /// Replies to measure per level.
        requests: u64,
        /// Connections at each level, in order.
        levels: Vec<u64>,
    },
}

impl Request {
    /// The request a body asks for, or the error reply it gets.
    pub fn parse(body: &Map<String, Value>) -> Result<Request, Reject> {
        match body.get("type").and_then(Value::as_str).unwrap_or("") {
            "init" => {
                let id = body.get("node_id").and_then(Value::as_str).ok_or((
                    code::MALFORMED_REQUEST,
                    "init needs node_id (a string)".to_string(),
                ))?;
                Ok(Request::Init {
                    node_id: id.to_string(),
                })
            }
            "bench_run" => {
                let requests = field(body, "num_requests", 1, MAX_REQUESTS, None)?;
                let payload = field(body, "payload_size_bytes", 1, MAX_PAYLOAD_BYTES, None)?;
                let concurrency = field(body, "concurrency", 1, MAX_CONCURRENCY, None)?;
                if payload.saturating_mul(requests) > MAX_TOTAL_BYTES {
                    return Err((
                        code::MALFORMED_REQUEST,
                        format!("num_requests x payload_size_bytes must be at most {MAX_TOTAL_BYTES} bytes to finish within the 5 s reply timeout"),
                    ));
                }
                Ok(Request::Run {
                    requests,
                    payload,
                    concurrency,
                })
            }
            "bench_profile" => Ok(Request::Profile {
                requests: field(
                    body,
                    "num_requests",
                    1,
                    MAX_REQUESTS,
                    Some(DEFAULT_PROFILE_REQUESTS),
                )?,
            }),
            "bench_sweep" => sweep(body),
            "" => Err((
                code::MALFORMED_REQUEST,
                "body.type is missing or not a string".to_string(),
            )),
            other => Err((
                code::NOT_SUPPORTED,
                format!(
                    "message type `{}` is not supported (init, bench_run, bench_profile, bench_sweep)",
                    other.escape_debug()
                ),
            )),
        }
    }

    /// The message type it came as.
    pub fn type_name(&self) -> &'static str {
        match self {
            Request::Init { .. } => "init",
            Request::Run { .. } => "bench_run",
            Request::Profile { .. } => "bench_profile",
            Request::Sweep { .. } => "bench_sweep",
        }
    }

    /// Whether carrying it out runs load (and so takes up to the harness's 5 s).
    pub fn runs_load(&self) -> bool {
        !matches!(self, Request::Init { .. })
    }
}

fn sweep(body: &Map<String, Value>) -> Result<Request, Reject> {
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
    Ok(Request::Sweep {
        requests,
        levels: parsed,
    })
}

impl Node {
    /// Carries out a parsed request.
    pub(super) fn execute(&mut self, request: Request) -> Result<Reply, Reject> {
        match request {
            Request::Init { node_id } => {
                self.node_id = Some(node_id);
                Ok(("init_ok", Map::new()))
            }
            Request::Run {
                requests,
                payload,
                concurrency,
            } => self.bench_run(
                requests,
                payload,
                concurrency,
                &Deadline::start(self.run_bound),
            ),
            Request::Profile { requests } => {
                self.bench_profile(requests, &Deadline::start(self.run_bound))
            }
            Request::Sweep { requests, levels } => {
                self.bench_sweep(requests, &levels, &Deadline::start(self.run_bound))
            }
        }
    }

    /// The reused in-process server's address (started on first use).
    fn server_addr(&mut self) -> Result<String, Reject> {
        if self.server.is_none() {
            let s = start_embedded(&RequestSpec::default(), 1)
                .map_err(|e| (code::CRASH, e.to_string()))?;
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
        let cfg = BenchConfig {
            target: Target::Address(self.server_addr()?),
            threads: 1,
            connections: concurrency as usize,
            load: Load::ClosedLoop(node_bench(requests)),
            request: RequestSpec::Nines(NinesOp::Echo {
                payload_bytes: (payload as usize).into(),
            })
            .into(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(3),
            drain_timeout: Duration::from_secs(1),
            ..BenchConfig::default()
        };
        match crate::run::validate(&cfg).first() {
            Some(e) => Err((code::MALFORMED_REQUEST, e.to_string())),
            None => Ok(cfg),
        }
    }

    fn bench_run(
        &mut self,
        requests: u64,
        payload: u64,
        concurrency: u64,
        deadline: &Deadline,
    ) -> Result<Reply, Reject> {
        let cfg = self.config(requests, concurrency, payload)?;
        let started = Instant::now();
        let r = run(&cfg, &mut hooks(deadline)).map_err(|e| (code::CRASH, e.to_string()))?;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        if deadline.passed() && r.requests < requests {
            let done = format!(
                "{} of {requests} requests ({} req/s, p50 {} us)",
                r.requests,
                round2(r.throughput_rps),
                r.latency_us.unwrap_or_default().p50
            );
            return Err(self.stopped("bench_run", &done));
        }
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

    fn bench_profile(&mut self, requests: u64, deadline: &Deadline) -> Result<Reply, Reject> {
        let cfg = self.config(requests, 8.min(requests), 64)?;
        let r = profile(&cfg, &mut hooks(deadline)).map_err(|e| (code::CRASH, e.to_string()))?;
        if deadline.passed() && r.requests < requests {
            let done = format!("{} of {requests} requests", r.requests);
            return Err(self.stopped("bench_profile", &done));
        }
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
        requests: u64,
        levels: &[u64],
        deadline: &Deadline,
    ) -> Result<Reply, Reject> {
        // Each level checked as a bench_run would be, then the sweep run by `nines sweep`'s code.
        let mut base = None;
        for &c in levels {
            base = Some(self.config(requests, c, 64)?);
        }
        let base = base.ok_or((code::MALFORMED_REQUEST, "no levels".to_string()))?;
        let connections = levels.iter().map(|&c| c as usize).collect();
        let cfg = SweepConfig::new(base, connections);
        let sweep = run_sweep(&cfg, &mut hooks(deadline), &mut |_| {})
            .map_err(|e| (code::CRASH, e.to_string()))?;
        let whole = sweep
            .steps
            .iter()
            .filter(|s| s.report.completed() && s.report.requests == requests)
            .count();
        if deadline.passed() && whole < levels.len() {
            let done = format!("{whole} of {} levels", levels.len());
            return Err(self.stopped("bench_sweep", &done));
        }
        let mut results = Vec::with_capacity(sweep.steps.len());
        for step in &sweep.steps {
            let r = &step.report;
            if !r.completed() {
                return Err((
                    code::CRASH,
                    format!(
                        "the run at concurrency {} did not complete: {}",
                        step.connections(),
                        serde_json::to_string(&r.errors_by_kind).unwrap_or_default()
                    ),
                ));
            }
            let mut m = Map::new();
            m.insert("concurrency".into(), json!(step.connections()));
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

impl Node {
    /// The reply to a run stopped at the time bound: how far it got.
    fn stopped(&self, what: &str, done: &str) -> Reject {
        (
            code::TIMEOUT,
            format!(
                "{what} stopped at the node's {} s time bound after {done}; ask for fewer requests (or more concurrency) to be answered in full",
                self.run_bound.as_secs_f64()
            ),
        )
    }
}

/// A run's hooks: no progress, and the deadline as its interrupt.
fn hooks(deadline: &Deadline) -> Hooks<'static> {
    Hooks {
        interrupt: Some(deadline.flag()),
        ..Hooks::default()
    }
}

/// A node's run: exactly `requests` replies, no warm-up, one request in flight per
/// connection, and stopped at the first error (the harness wants the figures or the error).
fn node_bench(requests: u64) -> Bench {
    Bench {
        pipeline: 1,
        warmup: Duration::ZERO,
        stop: StopAt::Requests(requests),
        max_errors: 1,
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
