//! The nines protocol, as a client: requests carry id and intended send time, replies carry them
//! back plus the server's residence time. A reply frame is decoded whole (it borrows its payload
//! from the read buffer): its size is bounded by the largest frame, which its header announces,
//! so a longer one is refused before it is buffered.

use super::{Codec, CodecError, Decoded, Response, Sent, Verdict};
use crate::config::{NinesOp, RequestSpec};
use nines_protocol::{
    decode, encode, encode_with, payload, Flags, Header, Op, DEFAULT_MAX_FRAME_BYTES, HEADER_LEN,
};

/// Codec for nines-server.
#[derive(Debug)]
pub struct NinesCodec {
    /// Each line's op, and its argument where that is fixed (Work's CPU time).
    lines: Vec<(Op, u32)>,
    max_frame_bytes: usize,
}

impl NinesCodec {
    /// A codec sending the nines requests `lines` (any other line sends a Stats request).
    pub fn new(lines: &[&RequestSpec]) -> NinesCodec {
        let mut most = 0;
        let lines = lines
            .iter()
            .map(|spec| {
                most = most.max(spec.payload().map_or(0, |p| p.max()));
                match spec {
                    RequestSpec::Nines(NinesOp::Work { work_us }) => (Op::Work, *work_us),
                    RequestSpec::Nines(op) => (op.op(), 0),
                    _ => (Op::Stats, 0),
                }
            })
            .collect();
        NinesCodec {
            lines,
            // Replies can be as large as what the server accepts; stay generous but bounded.
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES.max(most + HEADER_LEN),
        }
    }

    fn line(&self, req: &Sent) -> (Op, u32) {
        self.lines
            .get(usize::from(req.pick.line))
            .copied()
            .unwrap_or((Op::Stats, 0))
    }
}

impl Codec for NinesCodec {
    fn replies_carry_ids(&self) -> bool {
        true
    }

    fn max_buffered(&self) -> usize {
        // A frame is decoded whole; the decoder refuses a longer one from its header alone.
        self.max_frame_bytes
    }

    fn encode_request(&mut self, req: &Sent, out: &mut Vec<u8>) {
        let (op, arg) = self.line(req);
        let h = Header {
            arg: if op == Op::Source { req.pick.size } else { arg },
            sent_ns: req.intended_ns,
            ..Header::request(op, req.id)
        };
        if op == Op::Echo {
            encode_with(&h, req.pick.size, out, |b| payload::fill(req.id, b));
        } else {
            encode(&h, &[], out);
        }
    }

    fn decode(
        &mut self,
        buf: &[u8],
        oldest: Option<Sent>,
        _out: &mut Vec<u8>,
    ) -> Result<Option<Decoded>, CodecError> {
        let (frame, consumed) = match decode(buf, self.max_frame_bytes) {
            Ok(Some(x)) => x,
            Ok(None) => return Ok(None),
            Err(e) => return Err(CodecError::new(e.kind(), format!("undecodable reply: {e}"))),
        };
        let h = &frame.header;
        // Replies carry their ids: the oldest request's line and size check its reply; a reply
        // to a later one (after a timeout gave up on the oldest) is checked by what it says.
        let asked = oldest
            .filter(|o| o.id == h.request_id)
            .map(|o| (self.line(&o).0, o.pick.size as usize));
        let size_ok = |n: usize| asked.is_none_or(|(_, size)| n == size);
        let valid = h.flags.contains(Flags::RESPONSE)
            && asked.map_or_else(|| self.lines.iter().any(|l| l.0 == h.op), |a| a.0 == h.op)
            && match h.op {
                Op::Echo => {
                    size_ok(frame.payload.len()) && payload::check(h.request_id, frame.payload)
                }
                Op::Source => {
                    (size_ok(frame.payload.len()) || h.flags.contains(Flags::CAPPED))
                        && payload::check(h.request_id, frame.payload)
                }
                Op::Work => frame.payload.is_empty(),
                Op::Stats => nines_protocol::stats::parse(frame.payload).is_ok(),
            };
        let verdict = match (valid, h.flags.contains(Flags::CAPPED)) {
            (false, _) => Verdict::WrongContent,
            (true, true) => Verdict::Capped,
            (true, false) => Verdict::Ok,
        };
        Ok(Some(Decoded::Reply(Response::new(
            consumed,
            h.request_id,
            verdict,
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(op: NinesOp) -> NinesCodec {
        NinesCodec::new(&[&RequestSpec::Nines(op)])
    }

    fn echo(bytes: usize) -> NinesOp {
        NinesOp::Echo {
            payload_bytes: bytes.into(),
        }
    }

    fn verdict(c: &mut NinesCodec, bytes: &[u8], size: usize) -> Verdict {
        match c.decode(bytes, Some(Sent::of(1, size)), &mut Vec::new()) {
            Ok(Some(Decoded::Reply(r))) => r.verdict,
            other => panic!("{other:?}"),
        }
    }

    /// What the server would send back for `req`.
    fn reply_to(req: &[u8], payload: &[u8]) -> Vec<u8> {
        let (f, _) = decode(req, 1 << 20).unwrap().unwrap();
        let mut v = Vec::new();
        encode(&f.header.reply(), payload, &mut v);
        v
    }

    #[test]
    fn echo_reply_is_checked_against_its_id() {
        let mut c = codec(echo(32));
        let mut req = Vec::new();
        let seven = Sent {
            intended_ns: 1000,
            ..Sent::of(7, 32)
        };
        c.encode_request(&seven, &mut req);
        let (f, _) = decode(&req, 1 << 20).unwrap().unwrap();
        assert_eq!(
            (f.header.request_id, f.header.sent_ns, f.payload.len()),
            (7, 1000, 32)
        );
        let good = reply_to(&req, f.payload);
        let r = c
            .decode(&good, Some(seven), &mut Vec::new())
            .unwrap()
            .unwrap();
        assert_eq!(r, Decoded::Reply(Response::new(good.len(), 7, Verdict::Ok)));
        let mut other = vec![0u8; 32];
        payload::fill(8, &mut other);
        let bad = reply_to(&req, &other);
        assert_eq!(verdict(&mut c, &bad, 32), Verdict::WrongContent);
        assert!(c
            .decode(&good[..good.len() - 1], Some(seven), &mut Vec::new())
            .unwrap()
            .is_none());
        let e = c.decode(b"HTTP/1.1 200 OK", Some(seven), &mut Vec::new());
        assert_eq!(e.unwrap_err().kind, "bad_magic");
    }

    #[test]
    fn a_request_echoed_verbatim_is_not_a_valid_reply() {
        // An echo server bounces the request back without the RESPONSE flag.
        let mut c = codec(echo(8));
        let mut req = Vec::new();
        c.encode_request(&Sent::of(1, 8), &mut req);
        assert_eq!(verdict(&mut c, &req, 8), Verdict::WrongContent);
    }

    #[test]
    fn each_line_sends_its_op_and_a_reply_is_checked_against_its_own_request() {
        let lines = [
            RequestSpec::Nines(echo(64)),
            RequestSpec::Nines(NinesOp::Work { work_us: 7 }),
        ];
        let mut c = NinesCodec::new(&lines.iter().collect::<Vec<_>>());
        let mut req = Vec::new();
        let work = Sent {
            pick: crate::config::Pick { line: 1, size: 0 },
            ..Sent::of(2, 0)
        };
        c.encode_request(&work, &mut req);
        let (f, _) = decode(&req, 1 << 20).unwrap().unwrap();
        assert_eq!((f.header.op, f.header.arg), (Op::Work, 7));
        let mut req = Vec::new();
        c.encode_request(&Sent::of(3, 5), &mut req);
        let (f, _) = decode(&req, 1 << 20).unwrap().unwrap();
        assert_eq!((f.header.op, f.payload.len()), (Op::Echo, 5));
        let good = reply_to(&req, f.payload);
        let ok = c.decode(&good, Some(Sent::of(3, 5)), &mut Vec::new());
        assert!(matches!(ok, Ok(Some(Decoded::Reply(r))) if r.verdict == Verdict::Ok));
        // The reply to a 5-byte echo, taken for a 6-byte one's, is wrong.
        let short = c.decode(&good, Some(Sent::of(3, 6)), &mut Vec::new());
        assert!(matches!(short, Ok(Some(Decoded::Reply(r))) if r.verdict == Verdict::WrongContent));
        // A Work reply to the oldest request, an echo, is wrong; to a later request (the
        // oldest is 1 here) it is checked by what it says.
        let mut w = Vec::new();
        encode(&Header::request(Op::Work, 3).reply(), &[], &mut w);
        let wrong = c.decode(&w, Some(Sent::of(3, 5)), &mut Vec::new());
        assert!(matches!(wrong, Ok(Some(Decoded::Reply(r))) if r.verdict == Verdict::WrongContent));
        assert_eq!(verdict(&mut c, &w, 5), Verdict::Ok);
    }
}
