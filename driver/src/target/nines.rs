//! The nines protocol, as a client: requests carry id and intended send time, replies carry them
//! back plus the server's residence time. A reply frame is decoded whole (it borrows its payload
//! from the read buffer): its size is bounded by the largest frame, which its header announces,
//! so a longer one is refused before it is buffered.

use super::{Codec, CodecError, Decoded, Response, Verdict};
use crate::config::NinesOp;
use nines_protocol::{
    decode, encode, encode_with, payload, Flags, Header, Op, DEFAULT_MAX_FRAME_BYTES, HEADER_LEN,
};

/// Codec for nines-server.
#[derive(Debug)]
pub struct NinesCodec {
    op: Op,
    payload_bytes: usize,
    arg: u32,
    max_frame_bytes: usize,
}

impl NinesCodec {
    /// A codec sending `op` requests.
    pub fn new(op: NinesOp) -> NinesCodec {
        let (arg, payload_bytes) = match op {
            NinesOp::Work { work_us } => (work_us, 0),
            NinesOp::Source { reply_bytes } => {
                (u32::try_from(reply_bytes).unwrap_or(u32::MAX), reply_bytes)
            }
            NinesOp::Echo { payload_bytes } => (0, payload_bytes),
            NinesOp::Stats => (0, 0),
        };
        NinesCodec {
            op: op.op(),
            payload_bytes,
            arg,
            // Replies can be as large as what the server accepts; stay generous but bounded.
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES.max(payload_bytes + HEADER_LEN),
        }
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

    fn encode_request(&mut self, id: u64, intended_ns: u64, out: &mut Vec<u8>) {
        let h = Header {
            arg: self.arg,
            sent_ns: intended_ns,
            ..Header::request(self.op, id)
        };
        if self.op == Op::Echo {
            let n = u32::try_from(self.payload_bytes).unwrap_or(u32::MAX);
            encode_with(&h, n, out, |b| payload::fill(id, b));
        } else {
            encode(&h, &[], out);
        }
    }

    fn decode(
        &mut self,
        buf: &[u8],
        _oldest: Option<u64>,
        _out: &mut Vec<u8>,
    ) -> Result<Option<Decoded>, CodecError> {
        let (frame, consumed) = match decode(buf, self.max_frame_bytes) {
            Ok(Some(x)) => x,
            Ok(None) => return Ok(None),
            Err(e) => return Err(CodecError::new(e.kind(), format!("undecodable reply: {e}"))),
        };
        let h = &frame.header;
        let valid = h.flags.contains(Flags::RESPONSE)
            && h.op == self.op
            && match self.op {
                Op::Echo => {
                    frame.payload.len() == self.payload_bytes
                        && payload::check(h.request_id, frame.payload)
                }
                Op::Source => {
                    (frame.payload.len() == self.payload_bytes || h.flags.contains(Flags::CAPPED))
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

    fn verdict(c: &mut NinesCodec, bytes: &[u8]) -> Verdict {
        match c.decode(bytes, Some(1), &mut Vec::new()) {
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
        let mut c = NinesCodec::new(NinesOp::Echo { payload_bytes: 32 });
        let mut req = Vec::new();
        c.encode_request(7, 1000, &mut req);
        let (f, _) = decode(&req, 1 << 20).unwrap().unwrap();
        assert_eq!(
            (f.header.request_id, f.header.sent_ns, f.payload.len()),
            (7, 1000, 32)
        );
        let good = reply_to(&req, f.payload);
        let r = c.decode(&good, Some(7), &mut Vec::new()).unwrap().unwrap();
        assert_eq!(r, Decoded::Reply(Response::new(good.len(), 7, Verdict::Ok)));
        let mut other = vec![0u8; 32];
        payload::fill(8, &mut other);
        let bad = reply_to(&req, &other);
        assert_eq!(verdict(&mut c, &bad), Verdict::WrongContent);
        assert!(c
            .decode(&good[..good.len() - 1], Some(7), &mut Vec::new())
            .unwrap()
            .is_none());
        let e = c.decode(b"HTTP/1.1 200 OK", Some(7), &mut Vec::new());
        assert_eq!(e.unwrap_err().kind, "bad_magic");
    }

    #[test]
    fn a_request_echoed_verbatim_is_not_a_valid_reply() {
        // An echo server bounces the request back without the RESPONSE flag.
        let mut c = NinesCodec::new(NinesOp::Echo { payload_bytes: 8 });
        let mut req = Vec::new();
        c.encode_request(1, 0, &mut req);
        assert_eq!(verdict(&mut c, &req), Verdict::WrongContent);
    }
}
