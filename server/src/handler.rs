//! Request handling: bytes in, reply bytes out, for every server model.
//!
//! The pooled workers and the thread-per-connection model differ only in how they schedule
//! connections; both call [`Handler::process`] on whatever bytes a read produced, so protocol
//! behaviour, limits and counters cannot drift apart between the models.

use std::time::{Duration, Instant};

use nines_protocol::{
    decode, encode, encode_with, patch_residence, payload, DecodeError, Flags, Op, HEADER_LEN,
};

use crate::config::{Protocol, ServerConfig};
use crate::stats::{bump, Counters, Registry};

/// Turns request bytes into reply bytes. Cheap to clone; one per thread.
#[derive(Debug, Clone)]
pub struct Handler {
    protocol: Protocol,
    max_frame_bytes: usize,
    work_cap_us: u32,
    registry: Registry,
}

/// What one call to [`Handler::process`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Processed {
    /// Input bytes used; the caller keeps the rest (a partial frame) for the next read.
    pub consumed: usize,
    /// Requests answered.
    pub requests: u64,
    /// When processing ended, if the handler read the clock (nines replies need it for their
    /// residence time); saves the caller a clock read for the phase profile.
    pub finished_at: Option<Instant>,
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

    /// Handles complete requests in `input`, appending replies to `out`, and stops early once
    /// `out` holds `out_limit` bytes or more: a 40-byte Source request can ask for a megabyte, so
    /// the bound on buffered replies must be checked per request, not per read. The caller keeps
    /// the unprocessed rest of `input` and calls again when the replies have drained.
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
        out_limit: usize,
    ) -> Result<Processed, (Processed, DecodeError)> {
        if self.protocol == Protocol::Echo {
            out.extend_from_slice(input);
            return Ok(Processed {
                consumed: input.len(),
                requests: u64::from(!input.is_empty()),
                finished_at: None,
            });
        }
        reply_offsets.clear();
        let mut done = Processed::default();
        let mut failure = None;
        while out.len() < out_limit {
            match decode(&input[done.consumed..], self.max_frame_bytes) {
                Ok(Some((frame, len))) => {
                    reply_offsets.push(self.reply(&frame, out, counters));
                    done.consumed += len;
                    done.requests += 1;
                }
                Ok(None) => break,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
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

    fn reply(
        &self,
        frame: &nines_protocol::Frame<'_>,
        out: &mut Vec<u8>,
        counters: &Counters,
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
                encode_with(&h, n, out, |b| payload::fill(req.request_id, b))
            }
            Op::Stats => {
                let mut body = Vec::new();
                nines_protocol::stats::encode(self.registry.snapshot().pairs(), &mut body);
                encode(&h, &body, out)
            }
        }
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
            .process(&input, &mut out, Instant::now(), &c, &mut offs, usize::MAX)
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
        h.process(&input, &mut out, started, &c, &mut Vec::new(), usize::MAX)
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
                usize::MAX,
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
        let p = h
            .process(&input, &mut out, Instant::now(), &c, &mut Vec::new(), 2500)
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
                usize::MAX,
            )
            .unwrap();
        assert_eq!(p.requests, 7);
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
                usize::MAX,
            )
            .unwrap();
        assert_eq!((p.consumed, out.as_slice()), (6, &b"hello\n"[..]));
    }
}
