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
    decode, encode, encode_header, patch_residence, payload, DecodeError, Flags, Op, HEADER_LEN,
};

use crate::config::{Protocol, ServerConfig};
use crate::stats::{bump, Counters, Registry};

/// The smallest piece of a reply worth producing on its own.
pub const SOURCE_PIECE_BYTES: usize = 16 * 1024;

/// Turns request bytes into reply bytes. Cheap to clone; one per thread.
#[derive(Debug, Clone)]
pub struct Handler {
    protocol: Protocol,
    max_frame_bytes: usize,
    work_cap_us: u32,
    registry: Registry,
}

/// How much one connection may still do in this turn of its event loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// Replies stop once the output holds this many bytes: the connection's own bound, which
    /// one reply may pass (so a reply larger than the bound still goes out, alone).
    pub out_limit: usize,
    /// Reply bytes this call may produce at most: what the process-wide budget has left. A
    /// reply that does not fit is not started.
    pub budget: usize,
    /// The most unsent reply bytes the connection may hold this turn (its high-water mark, or
    /// its fair share of the budget); `out_limit` is set from it before each call.
    pub cap: usize,
    /// Requests it may still answer this turn.
    pub requests: u32,
    /// Microseconds of Work it may still ask for this turn.
    pub work_us: u64,
}

impl Allowance {
    /// Whether the turn's requests or Work time are used up.
    pub fn spent(&self) -> bool {
        self.requests == 0 || self.work_us == 0
    }
}

/// A Source reply whose header is out and whose payload is still being produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRest {
    id: u64,
    written: usize,
    len: usize,
}

/// What one call to [`Handler::process`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Processed {
    /// Input bytes used; the caller keeps the rest (a partial frame) for the next read.
    pub consumed: usize,
    /// Requests answered (or, for a Source still being produced, started).
    pub requests: u64,
    /// When processing ended, if the handler read the clock (nines replies need it for their
    /// residence time); saves the caller a clock read for the phase profile.
    pub finished_at: Option<Instant>,
    /// A Source reply to finish with [`Handler::continue_source`] before any later request.
    pub source: Option<SourceRest>,
    /// It stopped because the next reply did not fit the budget: the room that reply needs.
    pub starved: Option<usize>,
}

impl Handler {
    /// A handler for `config`; `registry` is read when a client asks for Stats.
    pub fn new(config: &ServerConfig, registry: Registry) -> Handler {
        Handler {
            protocol: config.protocol,
            max_frame_bytes: config.max_frame_bytes,
            work_cap_us: config.work_cap_us,
            registry,
        }
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
    pub fn process(
        &self,
        input: &[u8],
        out: &mut Vec<u8>,
        read_at: Instant,
        counters: &Counters,
        reply_offsets: &mut Vec<usize>,
        allow: &mut Allowance,
    ) -> Result<Processed, (Processed, DecodeError)> {
        if self.protocol == Protocol::Echo {
            return Ok(echo(input, out, allow));
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
            Some(e) => Err((done, e)),
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
                nines_protocol::stats::encode(self.registry.snapshot().pairs(), &mut body);
                encode(&h, &body, out)
            }
        }
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
    }
}

/// The bytes a request's reply needs before it may start: all of it, except for Source, whose
/// payload goes out a piece at a time (its header must fit). Stats replies are a few hundred
/// bytes; 4 KiB covers them.
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
mod tests {
    use super::*;
    use nines_protocol::Header;

    fn handler(protocol: Protocol) -> (Handler, std::sync::Arc<Counters>) {
        let mut reg = Registry::default();
        let c = reg.register();
        let cfg = ServerConfig {
            protocol,
            max_frame_bytes: 4096,
            work_cap_us: 1000,
            ..ServerConfig::default()
        };
        (Handler::new(&cfg, reg), c)
    }

    fn unlimited() -> Allowance {
        Allowance {
            out_limit: usize::MAX,
            budget: usize::MAX,
            cap: usize::MAX,
            requests: u32::MAX,
            work_us: u64::MAX,
        }
    }

    /// Processes `input` into a fresh output buffer, expecting no decode error.
    fn run(h: &Handler, c: &Counters, input: &[u8], allow: &mut Allowance) -> Processed {
        h.process(
            input,
            &mut Vec::new(),
            Instant::now(),
            c,
            &mut Vec::new(),
            allow,
        )
        .unwrap()
    }

    fn req(op: Op, id: u64, arg: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode(
            &Header {
                arg,
                sent_ns: 99,
                ..Header::request(op, id)
            },
            payload,
            &mut v,
        );
        v
    }

    #[test]
    fn pipelined_frames_get_replies_in_order_and_partial_tail_is_kept() {
        let (h, c) = handler(Protocol::Nines);
        let mut input = req(Op::Echo, 1, 0, b"one");
        input.extend(req(Op::Source, 2, 300, b""));
        input.extend(req(Op::Work, 3, 5, b""));
        input.extend(req(Op::Stats, 4, 0, b""));
        let full = input.len();
        input.extend(&req(Op::Echo, 5, 0, b"partial")[..10]);
        let mut out = Vec::new();
        let mut offs = Vec::new();
        let p = h
            .process(
                &input,
                &mut out,
                Instant::now(),
                &c,
                &mut offs,
                &mut unlimited(),
            )
            .unwrap();
        assert_eq!((p.consumed, p.requests), (full, 4));
        assert!(p.finished_at.is_some());
        let mut rest = &out[..];
        let mut ids = Vec::new();
        while let Some((f, n)) = decode(rest, 1 << 20).unwrap() {
            assert!(f.header.flags.contains(Flags::RESPONSE));
            assert_eq!(f.header.sent_ns, 99);
            assert!(f.header.residence_ns > 0);
            match f.header.op {
                Op::Echo => assert_eq!(f.payload, b"one"),
                Op::Source => assert!(f.payload.len() == 300 && payload::check(2, f.payload)),
                Op::Work => assert!(f.payload.is_empty()),
                Op::Stats => assert!(nines_protocol::stats::parse(f.payload).is_ok()),
            }
            ids.push(f.header.request_id);
            rest = &rest[n..];
        }
        assert_eq!(ids, [1, 2, 3, 4]);
    }

    #[test]
    fn caps_are_applied_and_flagged() {
        let (h, c) = handler(Protocol::Nines);
        let mut input = req(Op::Work, 1, 1_000_000, b"");
        input.extend(req(Op::Source, 2, 1_000_000, b""));
        let mut out = Vec::new();
        let started = Instant::now();
        h.process(
            &input,
            &mut out,
            started,
            &c,
            &mut Vec::new(),
            &mut unlimited(),
        )
        .unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "work cap of 1 ms was not applied"
        );
        let (w, n) = decode(&out, 1 << 20).unwrap().unwrap();
        assert!(w.header.flags.contains(Flags::CAPPED));
        let (s, _) = decode(&out[n..], 1 << 20).unwrap().unwrap();
        assert!(s.header.flags.contains(Flags::CAPPED));
        assert_eq!(s.payload.len(), 4096 - HEADER_LEN);
        assert_eq!(c.work_capped.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn bad_frame_after_good_ones_keeps_earlier_replies() {
        let (h, c) = handler(Protocol::Nines);
        let mut input = req(Op::Echo, 1, 0, b"x");
        input.extend_from_slice(b"garbage");
        let mut out = Vec::new();
        let err = h
            .process(
                &input,
                &mut out,
                Instant::now(),
                &c,
                &mut Vec::new(),
                &mut unlimited(),
            )
            .unwrap_err();
        assert_eq!(err.0.requests, 1);
        assert_eq!(err.1, DecodeError::BadMagic);
        assert!(decode(&out, 1 << 20).unwrap().is_some());
    }

    #[test]
    fn output_bound_stops_decoding_and_leaves_the_rest() {
        let (h, c) = handler(Protocol::Nines);
        let mut input = Vec::new();
        for id in 0..10 {
            input.extend(req(Op::Source, id, 1000, b""));
        }
        let mut out = Vec::new();
        let mut allow = Allowance {
            out_limit: 2500,
            ..unlimited()
        };
        let p = h
            .process(
                &input,
                &mut out,
                Instant::now(),
                &c,
                &mut Vec::new(),
                &mut allow,
            )
            .unwrap();
        // Three replies of 1040 bytes pass 2500; the other seven requests wait.
        assert_eq!(p.requests, 3);
        assert_eq!(p.consumed, 3 * HEADER_LEN);
        let p = h
            .process(
                &input[p.consumed..],
                &mut Vec::new(),
                Instant::now(),
                &c,
                &mut Vec::new(),
                &mut unlimited(),
            )
            .unwrap();
        assert_eq!(p.requests, 7);
    }

    #[test]
    fn a_turn_is_bounded_in_requests_and_in_work_time() {
        let (h, c) = handler(Protocol::Nines);
        let mut input = Vec::new();
        for id in 0..10 {
            input.extend(req(Op::Echo, id, 0, b"x"));
        }
        let mut allow = Allowance {
            requests: 4,
            ..unlimited()
        };
        let p = run(&h, &c, &input, &mut allow);
        assert_eq!((p.requests, allow.spent()), (4, true));
        // Work: 300 µs each against 500 µs for the turn: the second one spends it.
        let mut work = Vec::new();
        for id in 0..5 {
            work.extend(req(Op::Work, id, 300, b""));
        }
        let mut allow = Allowance {
            work_us: 500,
            ..unlimited()
        };
        let p = run(&h, &c, &work, &mut allow);
        assert_eq!(p.requests, 2);
        assert_eq!(p.consumed, 2 * HEADER_LEN);
    }

    #[test]
    fn a_large_source_reply_is_produced_a_piece_at_a_time() {
        let (h, c) = handler(Protocol::Nines);
        let mut input = req(Op::Source, 7, 4000, b"");
        input.extend(req(Op::Echo, 8, 0, b"after"));
        let mut out = Vec::new();
        let mut allow = Allowance {
            out_limit: 1000,
            ..unlimited()
        };
        let p = h
            .process(
                &input,
                &mut out,
                Instant::now(),
                &c,
                &mut Vec::new(),
                &mut allow,
            )
            .unwrap();
        // The header and as much payload as fits; the Echo behind it waits.
        assert_eq!((p.requests, p.consumed, out.len()), (1, HEADER_LEN, 1000));
        let mut rest = p.source.expect("the rest of the Source reply");
        let mut limit = 1000;
        loop {
            limit += 1500;
            let allow = Allowance {
                out_limit: limit,
                ..unlimited()
            };
            if h.continue_source(&mut rest, &mut out, &allow) {
                break;
            }
        }
        let (f, n) = decode(&out, 1 << 20).unwrap().unwrap();
        assert_eq!(n, out.len());
        assert!(f.payload.len() == 4000 && payload::check(7, f.payload));
    }

    #[test]
    fn a_reply_that_does_not_fit_the_budget_is_not_started() {
        let (h, c) = handler(Protocol::Nines);
        let mut input = req(Op::Echo, 1, 0, &[7; 100]);
        input.extend(req(Op::Echo, 2, 0, &[7; 100]));
        input.extend(req(Op::Source, 3, 10_000, b""));
        let mut out = Vec::new();
        // Room for one echo reply (140 bytes) and a Source header plus 60 payload bytes.
        let mut allow = Allowance {
            budget: 140 + 100,
            ..unlimited()
        };
        let p = h
            .process(
                &input,
                &mut out,
                Instant::now(),
                &c,
                &mut Vec::new(),
                &mut allow,
            )
            .unwrap();
        assert_eq!((p.requests, p.starved, out.len()), (1, Some(140), 140));
        assert_eq!(allow.budget, 100);
        // The rest waits; with 100 bytes more, the second echo would not fit either.
        let mut allow = Allowance {
            budget: 150,
            ..unlimited()
        };
        let p = h
            .process(
                &input[p.consumed..],
                &mut out,
                Instant::now(),
                &c,
                &mut Vec::new(),
                &mut allow,
            )
            .unwrap();
        assert_eq!(out.len(), 280, "the second echo reply fit in 150");
        assert_eq!(
            (p.requests, p.starved),
            (1, Some(HEADER_LEN)),
            "10 bytes left: not even a Source header"
        );
    }

    #[test]
    fn echo_protocol_returns_bytes_verbatim() {
        let (h, c) = handler(Protocol::Echo);
        let mut out = Vec::new();
        let p = h
            .process(
                b"hello\n",
                &mut out,
                Instant::now(),
                &c,
                &mut Vec::new(),
                &mut unlimited(),
            )
            .unwrap();
        assert_eq!((p.consumed, out.as_slice()), (6, &b"hello\n"[..]));
    }
}
