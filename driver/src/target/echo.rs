//! Raw echo: the request is `payload_bytes` of pattern, the response is the same bytes back.
//!
//! Echo carries no ids, so replies are matched in order; the pattern embeds the request id, so
//! a server that reorders, drops or corrupts bytes is caught rather than credited. A reply is
//! checked whole: it is the request's size, which validation bounds.

use super::{Codec, CodecError, Decoded, Response, Verdict};
use nines_protocol::payload;

/// Codec for any byte-echo server.
#[derive(Debug)]
pub struct EchoCodec {
    payload_bytes: usize,
}

impl EchoCodec {
    /// Echo requests of `payload_bytes` (at least 1: an empty request gets no reply).
    pub fn new(payload_bytes: usize) -> EchoCodec {
        EchoCodec {
            payload_bytes: payload_bytes.max(1),
        }
    }
}

impl Codec for EchoCodec {
    fn replies_carry_ids(&self) -> bool {
        false
    }

    fn max_buffered(&self) -> usize {
        // A reply is checked whole; it is no larger than the request (at most a nines frame).
        self.payload_bytes
    }

    fn encode_request(&mut self, id: u64, _intended_ns: u64, out: &mut Vec<u8>) {
        let at = out.len();
        out.resize(at + self.payload_bytes, 0);
        payload::fill(id, &mut out[at..]);
    }

    fn decode(
        &mut self,
        buf: &[u8],
        oldest_in_flight: Option<u64>,
        _out: &mut Vec<u8>,
    ) -> Result<Option<Decoded>, CodecError> {
        if buf.is_empty() {
            return Ok(None);
        }
        let Some(id) = oldest_in_flight else {
            return Err(CodecError::new(
                "unasked",
                format!(
                    "received {} byte(s) with no request in flight: the server sent data nobody \
                     asked for",
                    buf.len()
                ),
            ));
        };
        if buf.len() < self.payload_bytes {
            return Ok(None);
        }
        let bytes = &buf[..self.payload_bytes];
        let verdict = if payload::check(id, bytes) {
            Verdict::Ok
        } else {
            Verdict::WrongContent
        };
        Ok(Some(Decoded::Reply(Response::new(
            self.payload_bytes,
            id,
            verdict,
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_matches_in_order_and_checks_content() {
        let mut c = EchoCodec::new(16);
        let mut wire = Vec::new();
        c.encode_request(1, 0, &mut wire);
        c.encode_request(2, 0, &mut wire);
        let out = &mut Vec::new();
        assert_eq!(c.decode(&wire[..15], Some(1), out), Ok(None));
        let r = c.decode(&wire, Some(1), out).unwrap().unwrap();
        assert_eq!(r, Decoded::Reply(Response::new(16, 1, Verdict::Ok)));
        // Swapped order: the second reply is not request 1's bytes.
        let r = c.decode(&wire[16..], Some(1), out).unwrap().unwrap();
        assert_eq!(
            r,
            Decoded::Reply(Response::new(16, 1, Verdict::WrongContent))
        );
        assert!(c.decode(b"x", None, out).is_err());
        // Regression: nothing buffered and nothing in flight is "need more", not stray data.
        assert_eq!(c.decode(b"", None, out), Ok(None));
    }
}
