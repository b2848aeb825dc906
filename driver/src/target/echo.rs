//! Raw echo: the request is `payload_bytes` of pattern, the response is the same bytes back.
//!
//! Echo carries no ids, so replies are matched in order; the pattern embeds the request id, so
//! a server that reorders, drops or corrupts bytes is caught rather than credited.

use super::{Codec, CodecError, Response};
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

    fn encode_request(&mut self, id: u64, _intended_ns: u64, out: &mut Vec<u8>) {
        let at = out.len();
        out.resize(at + self.payload_bytes, 0);
        payload::fill(id, &mut out[at..]);
    }

    fn decode_response(
        &mut self,
        buf: &[u8],
        oldest_in_flight: Option<u64>,
    ) -> Result<Option<Response>, CodecError> {
        if buf.is_empty() {
            return Ok(None);
        }
        let Some(id) = oldest_in_flight else {
            return Err(CodecError(format!(
                "received {} byte(s) with no request in flight: the server sent data nobody asked for",
                buf.len()
            )));
        };
        if buf.len() < self.payload_bytes {
            return Ok(None);
        }
        let bytes = &buf[..self.payload_bytes];
        Ok(Some(Response {
            consumed: self.payload_bytes,
            id,
            valid: payload::check(id, bytes),
            capped: false,
        }))
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
        assert_eq!(c.decode_response(&wire[..15], Some(1)), Ok(None));
        let r = c.decode_response(&wire, Some(1)).unwrap().unwrap();
        assert_eq!(
            r,
            Response {
                consumed: 16,
                id: 1,
                valid: true,
                capped: false,
            }
        );
        // Swapped order: the second reply is not request 1's bytes.
        let r = c.decode_response(&wire[16..], Some(1)).unwrap().unwrap();
        assert!(!r.valid);
        assert!(c.decode_response(b"x", None).is_err());
        // Regression: nothing buffered and nothing in flight is "need more", not stray data.
        assert_eq!(c.decode_response(b"", None), Ok(None));
    }
}
