//! Raw echo: the request is `payload_bytes` of pattern, the response is the same bytes back.
//!
//! Echo carries no ids, so replies are matched in order; the pattern embeds the request id, so
//! a server that reorders, drops or corrupts bytes is caught rather than credited. A reply is
//! checked whole: it is the request's size (drawn per request, or fixed), which validation
//! bounds.

use super::{Codec, CodecError, Decoded, Response, Sent, Verdict};
use nines_protocol::payload;

/// Codec for any byte-echo server.
#[derive(Debug)]
pub struct EchoCodec {
    /// The largest request sent.
    max_bytes: usize,
}

impl EchoCodec {
    /// Echo requests of at most `max_bytes` each (each at least 1: an empty request gets no
    /// reply).
    pub fn new(max_bytes: usize) -> EchoCodec {
        EchoCodec {
            max_bytes: max_bytes.max(1),
        }
    }
}

/// Bytes of an echo request of `size` (an empty request gets no reply: it sends one byte).
#[inline]
fn len(size: u32) -> usize {
    (size as usize).max(1)
}

impl Codec for EchoCodec {
    fn replies_carry_ids(&self) -> bool {
        false
    }

    fn max_buffered(&self) -> usize {
        // A reply is checked whole; it is no larger than the request (at most a nines frame).
        self.max_bytes
    }

    fn encode_request(&mut self, req: &Sent, out: &mut Vec<u8>) {
        let at = out.len();
        out.resize(at + len(req.pick.size), 0);
        payload::fill(req.id, &mut out[at..]);
    }

    fn decode(
        &mut self,
        buf: &[u8],
        oldest_in_flight: Option<Sent>,
        _out: &mut Vec<u8>,
    ) -> Result<Option<Decoded>, CodecError> {
        if buf.is_empty() {
            return Ok(None);
        }
        let Some(Sent { id, pick, .. }) = oldest_in_flight else {
            return Err(CodecError::new(
                "unasked",
                format!(
                    "received {} byte(s) with no request in flight: the server sent data nobody \
                     asked for",
                    buf.len()
                ),
            ));
        };
        let n = len(pick.size);
        if buf.len() < n {
            return Ok(None);
        }
        let verdict = if payload::check(id, &buf[..n]) {
            Verdict::Ok
        } else {
            Verdict::WrongContent
        };
        Ok(Some(Decoded::Reply(Response::new(n, id, verdict))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_matches_in_order_and_checks_content() {
        let mut c = EchoCodec::new(16);
        let mut wire = Vec::new();
        c.encode_request(&Sent::of(1, 16), &mut wire);
        c.encode_request(&Sent::of(2, 16), &mut wire);
        let out = &mut Vec::new();
        let one = Some(Sent::of(1, 16));
        assert_eq!(c.decode(&wire[..15], one, out), Ok(None));
        let r = c.decode(&wire, one, out).unwrap().unwrap();
        assert_eq!(r, Decoded::Reply(Response::new(16, 1, Verdict::Ok)));
        // Swapped order: the second reply is not request 1's bytes.
        let r = c.decode(&wire[16..], one, out).unwrap().unwrap();
        assert_eq!(
            r,
            Decoded::Reply(Response::new(16, 1, Verdict::WrongContent))
        );
        assert!(c.decode(b"x", None, out).is_err());
        // Regression: nothing buffered and nothing in flight is "need more", not stray data.
        assert_eq!(c.decode(b"", None, out), Ok(None));
    }

    #[test]
    fn each_reply_is_as_long_as_its_own_request() {
        let mut c = EchoCodec::new(100);
        let mut wire = Vec::new();
        c.encode_request(&Sent::of(1, 3), &mut wire);
        c.encode_request(&Sent::of(2, 100), &mut wire);
        let out = &mut Vec::new();
        let r = c.decode(&wire, Some(Sent::of(1, 3)), out).unwrap().unwrap();
        assert_eq!(r, Decoded::Reply(Response::new(3, 1, Verdict::Ok)));
        let r = c.decode(&wire[3..], Some(Sent::of(2, 100)), out);
        assert_eq!(
            r.unwrap().unwrap(),
            Decoded::Reply(Response::new(100, 2, Verdict::Ok))
        );
    }
}
