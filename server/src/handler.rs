//! Request handling: bytes in, reply bytes out, for every server model.
//!
//! The pooled workers and the thread-per-connection model differ only in how they schedule
//! connections; both call [`Handler::process`] on whatever bytes a read produced, so protocol
//! behaviour, limits and counters cannot drift apart between the models.
//!
//! Each call does at most what its [`Allowance`] allows: replies up to an output bound (the
//! connection's share of the buffered-reply budget), a number of requests and an amount of
//! Work time per event-loop turn, so one connection's pipelined requests cannot hold a worker.
//! A Source reply larger than the room left is started and then produced a piece at a time as
//! the socket drains ([`Handler::continue_source`]), never materialised whole for a client that
//! does not read.

use std::time::{Duration, Instant};

use nines_protocol::{
    decode, encode, encode_header, patch_residence, payload, Flags, Op, HEADER_LEN,
};

use crate::config::{Protocol, ServerConfig};
use crate::stats::{bump, Counters, Registry};
use crate::ws::WsState;
use crate::{http, ws};
// The types of `process`'s signature, where its callers look for them.
pub use crate::outcome::RequestError;
pub use crate::turn::{Allowance, Processed, SourceRest};

/// Turns request bytes into reply bytes. Cheap to clone; one per thread.
#[derive(Debug, Clone)]
pub struct Handler {
    protocol: Protocol,
    max_frame_bytes: usize,
    max_request_bytes: usize,
    work_cap_us: u32,
    registry: Registry,
}

/// What a connection's protocol remembers between reads (only WebSocket remembers anything:
/// whether the upgrade is done, and the fragmented message it is in the middle of).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    ws: WsState,
}

impl Handler {
    /// A handler for `config`; `registry` is read when a client asks for Stats.
    pub fn new(config: &ServerConfig, registry: Registry) -> Handler {
        Handler {
            protocol: config.protocol,
            max_frame_bytes: config.max_frame_bytes,
            max_request_bytes: max_request_bytes(config.protocol, config.max_frame_bytes),
            work_cap_us: config.work_cap_us,
            registry,
        }
    }

    /// The most bytes one request may need buffered whole before it can be answered or
    /// refused: what a connection's read buffer may grow to.
    pub fn max_request_bytes(&self) -> usize {
        self.max_request_bytes
    }

    /// Handles complete requests in `input`, appending replies to `out`, until the input runs
    /// out, `allow` is spent, or `out` reaches `allow.out_limit` (checked before each request: a
    /// 40-byte Source request can ask for a megabyte). The caller keeps the unprocessed rest of
    /// `input` and calls again later.
    ///
    /// `read_at` is when the bytes were read: each nines reply's residence time is measured from
    /// it to the end of this call (one clock read per batch, patched into the batch's replies).
    /// On a decode error, replies already produced for earlier frames stay in `out` and the
    /// caller should send them and then close the connection.
    #[allow(clippy::too_many_arguments)]
    pub fn process(
        &self,
        input: &[u8],
        out: &mut Vec<u8>,
        read_at: Instant,
        counters: &Counters,
        reply_offsets: &mut Vec<usize>,
        allow: &mut Allowance,
        session: &mut Session,
    ) -> Result<Processed, (Processed, RequestError)> {
        match self.protocol {
            Protocol::Nines => {}
            Protocol::Echo => return Ok(echo(input, out, allow)),
            Protocol::Http => return http::process(input, out, self.max_frame_bytes, allow),
            Protocol::Ws => {
                return ws::process(&mut session.ws, input, out, self.max_frame_bytes, allow)
            }
        }
        reply_offsets.clear();
        let mut done = Processed::default();
        let mut failure = None;
        let started_at = out.len();
        // The output bound stops this call within one reply of it; when the budget has more
        // room than that, it cannot bind here and is settled once at the end, not per request.
        let most_this_call = allow
            .out_limit
            .saturating_sub(out.len())
            .saturating_add(self.max_frame_bytes + 4096);
        let budget_binds = allow.budget < most_this_call;
        // The turn's counters in locals for the loop, written back once.
        let mut turn = *allow;
        while out.len() < turn.out_limit && !turn.spent() && done.source.is_none() {
            match decode(&input[done.consumed..], self.max_frame_bytes) {
                Ok(Some((frame, len))) => {
                    let before = out.len();
                    if budget_binds && reply_bytes(&frame) > turn.budget {
                        done.starved = Some(reply_bytes(&frame));
                        break;
                    }
                    reply_offsets.push(self.reply(
                        &frame,
                        out,
                        counters,
                        &mut turn,
                        &mut done.source,
                    ));
                    if budget_binds {
                        turn.budget = turn.budget.saturating_sub(out.len() - before);
                    }
                    done.consumed += len;
                    done.requests += 1;
                    turn.requests -= 1;
                }
                Ok(None) => break,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if !budget_binds {
            turn.budget = turn.budget.saturating_sub(out.len() - started_at);
        }
        *allow = turn;
        if !reply_offsets.is_empty() {
            let now = Instant::now();
            done.finished_at = Some(now);
            let residence_ns = now
                .saturating_duration_since(read_at)
                .as_nanos()
                .min(u128::from(u64::MAX)) as u64;
            for &at in reply_offsets.iter() {
                patch_residence(out, at, residence_ns);
            }
        }
        match failure {
            None => Ok(done),
            Some(e) => Err((done, RequestError::Frame(e))),
        }
    }

    /// Produces more of a Source reply, as far as `allow` lets it (its output bound, and
    /// `allow.budget` as the room left; charging it is the caller's); true once the whole
    /// payload is out.
    pub fn continue_source(
        &self,
        rest: &mut SourceRest,
        out: &mut Vec<u8>,
        allow: &Allowance,
    ) -> bool {
        let room = allow.out_limit.saturating_sub(out.len()).min(allow.budget);
        let take = (rest.len - rest.written).min(room);
        let at = out.len();
        out.resize(at + take, 0);
        payload::fill_at(rest.id, rest.written, &mut out[at..]);
        rest.written += take;
        rest.written == rest.len
    }

    /// Appends the reply to one request and returns where it starts; the rest of a Source
    /// reply that did not fit goes to `source`. Inlined into the loop: called out of line,
    /// moving the frame and header in and out costs ~20% of the handler's instructions.
    #[inline(always)]
    fn reply(
        &self,
        frame: &nines_protocol::Frame<'_>,
        out: &mut Vec<u8>,
        counters: &Counters,
        turn: &mut Allowance,
        source: &mut Option<SourceRest>,
    ) -> usize {
        let req = &frame.header;
        let mut h = req.reply();
        match req.op {
            Op::Echo => encode(&h, frame.payload, out),
            Op::Work => {
                let us = if req.arg > self.work_cap_us {
                    h.flags = h.flags.with(Flags::CAPPED);
                    bump(&counters.work_capped, 1);
                    self.work_cap_us
                } else {
                    req.arg
                };
                turn.work_us = turn.work_us.saturating_sub(u64::from(us));
                burn_cpu(Duration::from_micros(u64::from(us)));
                encode(&h, &[], out)
            }
            Op::Source => {
                let max_payload =
                    (self.max_frame_bytes.saturating_sub(HEADER_LEN)).min(u32::MAX as usize) as u32;
                let n = if req.arg > max_payload {
                    h.flags = h.flags.with(Flags::CAPPED);
                    max_payload
                } else {
                    req.arg
                };
                let at = encode_header(&h, n, out);
                let mut rest = SourceRest {
                    id: req.request_id,
                    written: 0,
                    len: n as usize,
                };
                // The header already took its share of the room.
                let left = Allowance {
                    budget: turn.budget.saturating_sub(HEADER_LEN),
                    ..*turn
                };
                if !self.continue_source(&mut rest, out, &left) {
                    *source = Some(rest);
                }
                at
            }
            Op::Stats => {
                let mut body = Vec::new();
                let cpu = crate::stats::cpu_pairs();
                let pairs = self.registry.snapshot().pairs().into_iter();
                let cpu_pairs = cpu.iter().map(|(k, v)| (k.as_str(), *v));
                // What this process holds: no /proc read here while a driver polls (held.rs).
                let held = crate::held::reading()
                    .map(|u| u.pairs())
                    .into_iter()
                    .flatten();
                nines_protocol::stats::encode(pairs.chain(cpu_pairs).chain(held), &mut body);
                encode(&h, &body, out)
            }
        }
    }
}

/// The longest request of `protocol` under `--max-frame`: a nines frame; an HTTP head
/// (`http::MAX_HEAD_BYTES`) and a body of up to `--max-frame`, as nginx's
/// `client_max_body_size` bounds the body alone; a WebSocket upgrade head, then frames of up
/// to `--max-frame` with their headers. Each protocol refuses longer input with its own status
/// before it fills the buffer, so a connection is never closed for want of room.
fn max_request_bytes(protocol: Protocol, max_frame_bytes: usize) -> usize {
    match protocol {
        Protocol::Nines | Protocol::Echo => max_frame_bytes,
        Protocol::Http => http::MAX_HEAD_BYTES + max_frame_bytes,
        Protocol::Ws => max_frame_bytes.max(http::MAX_HEAD_BYTES),
    }
}

/// Plain echo: the input back, as much as the output bound and the budget allow (one
/// "request" per call).
fn echo(input: &[u8], out: &mut Vec<u8>, allow: &mut Allowance) -> Processed {
    let room = allow.out_limit.saturating_sub(out.len());
    let take = input.len().min(room).min(allow.budget);
    // The budget, not the input or the connection's bound, is what stopped it.
    let starved = (allow.budget < input.len() && allow.budget < room).then_some(1);
    out.extend_from_slice(&input[..take]);
    allow.budget -= take;
    if take > 0 {
        allow.requests = allow.requests.saturating_sub(1);
    }
    Processed {
        consumed: take,
        requests: u64::from(take > 0),
        finished_at: None,
        source: None,
        starved,
        close: false,
    }
}

/// The bytes a request's reply needs before it may start: all of it, except for Source, whose
/// payload goes out a piece at a time (its header must fit). Stats replies are a few hundred
/// bytes and a line per worker thread; 4 KiB covers them up to about 60 workers (a longer one
/// only spends the rest of its connection's turn).
fn reply_bytes(frame: &nines_protocol::Frame<'_>) -> usize {
    HEADER_LEN
        + match frame.header.op {
            Op::Echo => frame.payload.len(),
            Op::Stats => 4096,
            Op::Work | Op::Source => 0,
        }
}

/// Spins on the CPU for `d`: a stand-in for request processing that really uses the core, unlike
/// a sleep, so that Work measures what CPU-bound handlers do to a server's tail.
fn burn_cpu(d: Duration) {
    if d.is_zero() {
        return;
    }
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < d {
        for _ in 0..64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
