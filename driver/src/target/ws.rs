//! WebSocket (RFC 6455) as a client of an echo service: the upgrade handshake (its
//! `Sec-WebSocket-Accept` checked), masked messages of `--payload` bytes whose content names the
//! request, and every echoed message checked byte for byte against the oldest message in flight.
//! Pings are answered with pongs, only the latest one's when several arrive before the last
//! pong is written (RFC 6455 §5.5.3 allows it), so a server that pings faster than it reads
//! costs the driver one held pong, not a queue; a close frame from the server is answered and
//! loses the connection.
//!
//! A message's payload is checked where it falls, piece by piece as it arrives, whether the
//! server fragments it or a read cuts a frame: only a frame header (14 bytes), a control frame
//! (125 bytes of payload, RFC 6455 §5.5) and the handshake response are ever held whole, so a
//! 16 MiB echo costs the driver no more buffer than a 16-byte one. A message's frames are
//! counted against `--max-response`, each from its header: one announcing more, or fragments
//! that go on past it, are `response_too_large` at once.

use std::sync::atomic::{AtomicU64, Ordering};

use nines_protocol::payload;
use nines_protocol::ws::{self, Opcode};

use super::{Codec, CodecError, Decoded, Response, Sent, Verdict};
use crate::config::{RequestSpec, Resource, WsMessage, WsRequest};

/// Most headers a handshake response may have.
const MAX_HEADERS: usize = 64;
/// Longest handshake response accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Handshake keys differ per connection.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// A message being received: its type, bytes so far, whether they matched, and where its
/// current frame stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Incoming {
    opcode: Opcode,
    received: usize,
    matches: bool,
    /// Payload bytes of the current frame still to come (0: between frames).
    frame_left: usize,
    /// Whether the current frame is the message's last.
    fin: bool,
    /// Bytes of the message's frames so far, headers included (empty continuations too).
    taken: u64,
}

/// The pong owed for the latest ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pong {
    payload: [u8; ws::MAX_CONTROL_PAYLOAD],
    len: u8,
}

/// Codec for WebSocket echo servers.
#[derive(Debug)]
pub struct WsCodec {
    resource: Resource,
    /// Each line's message type.
    messages: Vec<WsMessage>,
    key: String,
    /// The largest message taken (`--max-response`).
    max_message_bytes: u64,
    incoming: Option<Incoming>,
    /// Held until what was queued before it is written: [`Codec::take_answer`].
    pong: Option<Pong>,
}

impl WsCodec {
    /// A codec sending the messages of `lines` (WebSocket requests, sharing the first's
    /// resource) after an upgrade to that resource.
    pub fn new(lines: &[&RequestSpec]) -> WsCodec {
        let ws: Vec<&WsRequest> = lines
            .iter()
            .filter_map(|l| match l {
                RequestSpec::Ws(w) => Some(w),
                _ => None,
            })
            .collect();
        let first = ws.first().copied().cloned().unwrap_or_default();
        WsCodec {
            messages: ws.iter().map(|w| w.message).collect(),
            resource: first.resource,
            key: String::new(),
            max_message_bytes: first.max_response_bytes,
            incoming: None,
            pong: None,
        }
    }

    /// What request `req` sent: its id, message type and size.
    fn asked(&self, req: Option<Sent>) -> Asked {
        let req = req.unwrap_or(Sent::of(u64::MAX, 0));
        Asked {
            id: req.id,
            message: self
                .messages
                .get(usize::from(req.pick.line))
                .copied()
                .unwrap_or_default(),
            size: req.pick.size as usize,
        }
    }
}

/// What one request sent, which its echo must repeat.
#[derive(Debug, Clone, Copy)]
struct Asked {
    id: u64,
    message: WsMessage,
    size: usize,
}

impl Asked {
    fn opcode(&self) -> Opcode {
        match self.message {
            WsMessage::Binary => Opcode::Binary,
            WsMessage::Text => Opcode::Text,
        }
    }

    /// Whether `bytes`, found `offset` bytes into a message, are what the request sent there.
    fn matches(&self, offset: usize, bytes: &[u8]) -> bool {
        if offset == 0 && self.message == WsMessage::Binary && bytes.len() == self.size {
            return payload::check(self.id, bytes);
        }
        if offset + bytes.len() > self.size {
            return false;
        }
        let mut expect = [0u8; 256];
        bytes.chunks(expect.len()).enumerate().all(|(i, chunk)| {
            let e = &mut expect[..chunk.len()];
            fill_at(self.message, self.id, offset + i * 256, e);
            e == chunk
        })
    }
}

impl Codec for WsCodec {
    fn replies_carry_ids(&self) -> bool {
        false
    }

    fn max_buffered(&self) -> usize {
        // The handshake response; after it, a frame header and a control frame (139 bytes).
        MAX_HEAD_BYTES
    }

    fn start(&mut self, out: &mut Vec<u8>) -> bool {
        self.key = ws::client_key(NEXT_KEY.fetch_add(1, Ordering::Relaxed));
        self.incoming = None;
        self.pong = None;
        let mut r = self.resource.head("GET");
        r.push_str("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
        r.push_str(&self.key);
        r.push_str("\r\nSec-WebSocket-Version: 13\r\n\r\n");
        out.extend_from_slice(r.as_bytes());
        true
    }

    fn finish_start(&mut self, buf: &[u8]) -> Result<Option<usize>, CodecError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        // The head must end within its first MAX_HEAD_BYTES, however the bytes were cut.
        let len = match resp.parse(buf) {
            Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD_BYTES => n,
            Ok(httparse::Status::Complete(_)) => {
                return Err(CodecError::new(
                    "ws_handshake",
                    "handshake response too large",
                ))
            }
            Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
                return Err(CodecError::new(
                    "ws_handshake",
                    "handshake response too large",
                ))
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => {
                return Err(CodecError::new(
                    "ws_handshake",
                    format!("malformed handshake response: {e}"),
                ))
            }
        };
        if resp.code != Some(101) {
            return Err(CodecError::new(
                "ws_handshake_status",
                format!(
                    "the server answered the upgrade with {} instead of 101",
                    resp.code.unwrap_or(0)
                ),
            ));
        }
        let header = |name: &str| {
            resp.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value.trim_ascii())
        };
        let expected = ws::accept_key(self.key.as_bytes());
        if header("sec-websocket-accept") != Some(expected.as_bytes()) {
            return Err(CodecError::new(
                "ws_handshake_accept",
                "Sec-WebSocket-Accept is missing or does not match the key sent",
            ));
        }
        if !header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case(b"websocket")) {
            return Err(CodecError::new(
                "ws_handshake",
                "the 101 response does not say Upgrade: websocket",
            ));
        }
        Ok(Some(len))
    }

    fn encode_request(&mut self, req: &Sent, out: &mut Vec<u8>) {
        let a = self.asked(Some(*req));
        let mask = (a.id as u32 ^ 0x5A3C_96E1)
            .wrapping_mul(0x9E37_79B1)
            .to_le_bytes();
        ws::encode_header(true, a.opcode(), Some(mask), a.size, out);
        let at = out.len();
        out.resize(at + a.size, 0);
        fill_at(a.message, a.id, 0, &mut out[at..]);
        ws::apply_mask(mask, 0, &mut out[at..]);
    }

    fn take_answer(&mut self, out: &mut Vec<u8>) {
        if let Some(p) = self.pong.take() {
            let payload = &p.payload[..usize::from(p.len)];
            ws::encode(
                true,
                Opcode::Pong,
                Some([0x11, 0x22, 0x33, 0x44]),
                payload,
                out,
            );
        }
    }

    fn decode(
        &mut self,
        buf: &[u8],
        oldest: Option<Sent>,
        out: &mut Vec<u8>,
    ) -> Result<Option<Decoded>, CodecError> {
        let asked = self.asked(oldest);
        if let Some(m) = self.incoming.filter(|m| m.frame_left > 0) {
            // Inside a data frame: its payload as far as it has come.
            let n = m.frame_left.min(buf.len());
            return Ok((n > 0).then(|| self.take_payload(m, asked, &buf[..n], 0)));
        }
        let max_payload = usize::try_from(self.max_message_bytes).unwrap_or(usize::MAX);
        let head = match ws::decode(buf, max_payload) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            Err(ws::WsError::TooLarge { len, .. }) => return Err(self.too_large(len)),
            Err(e) => return Err(CodecError::new(e.kind(), e.to_string())),
        };
        if head.mask.is_some() {
            return Err(CodecError::new(
                "ws_masked",
                "a masked frame from the server (RFC 6455 §5.1 forbids it)",
            ));
        }
        if head.opcode.is_control() {
            // At most 125 bytes of payload (the decoder checked): held whole.
            let len = head.frame_len();
            let Some(body) = buf.get(head.header_len..len) else {
                return Ok(None);
            };
            if head.opcode == Opcode::Ping {
                // Owed, not queued: a later ping replaces it.
                let mut pong = Pong {
                    payload: [0; ws::MAX_CONTROL_PAYLOAD],
                    len: body.len() as u8,
                };
                pong.payload[..body.len()].copy_from_slice(body);
                self.pong = Some(pong);
                return Ok(Some(Decoded::Prompt(len)));
            }
            if head.opcode == Opcode::Close {
                let code = body.get(..2).unwrap_or(&[0x03, 0xE8]);
                ws::encode(true, Opcode::Close, Some([1, 2, 3, 4]), code, out);
                return Ok(Some(Decoded::Closing(len)));
            }
            return Ok(Some(Decoded::Skip(len)));
        }
        let m = match (head.opcode, self.incoming) {
            (Opcode::Continuation, Some(m)) => m,
            (Opcode::Continuation, None) => {
                return Err(CodecError::new(
                    "ws_fragment",
                    "a continuation frame with no message begun",
                ))
            }
            (_, Some(_)) => {
                return Err(CodecError::new(
                    "ws_fragment",
                    "a new message before the last one's final fragment",
                ))
            }
            (opcode, None) => Incoming {
                opcode,
                received: 0,
                matches: opcode == asked.opcode(),
                frame_left: 0,
                fin: false,
                taken: 0,
            },
        };
        let at_least = m.taken.saturating_add(head.frame_len() as u64);
        if at_least > self.max_message_bytes {
            return Err(self.too_large(at_least));
        }
        let m = Incoming {
            frame_left: head.payload_len,
            fin: head.fin,
            ..m
        };
        let end = head.frame_len().min(buf.len());
        Ok(Some(self.take_payload(
            m,
            asked,
            &buf[head.header_len..end],
            head.header_len,
        )))
    }
}

impl WsCodec {
    /// Checks `piece`, the next payload bytes of message `m`'s current frame (after `header`
    /// bytes of frame header in the same buffer), against the message `asked` sent: the reply
    /// once the message's last frame is in, else a part of it.
    fn take_payload(&mut self, m: Incoming, asked: Asked, piece: &[u8], header: usize) -> Decoded {
        let used = header + piece.len();
        let m = Incoming {
            matches: m.matches && asked.matches(m.received, piece),
            received: m.received + piece.len(),
            frame_left: m.frame_left - piece.len(),
            taken: m.taken + used as u64,
            ..m
        };
        if m.frame_left > 0 || !m.fin {
            self.incoming = Some(m);
            return Decoded::Partial(used);
        }
        self.incoming = None;
        let verdict = if m.matches && m.received == asked.size {
            Verdict::Ok
        } else {
            Verdict::WrongContent
        };
        Decoded::Reply(Response::new(used, asked.id, verdict))
    }

    /// A message of at least `bytes`, past the bound.
    fn too_large(&self, bytes: u64) -> CodecError {
        CodecError::too_large(
            format_args!("a WebSocket message of {bytes} bytes or more"),
            self.max_message_bytes,
        )
    }
}

/// Writes bytes `offset ..` of the message for request `id`: the payload pattern (binary), or
/// ASCII (text): the id in 16 hex digits, then letters.
fn fill_at(message: WsMessage, id: u64, offset: usize, out: &mut [u8]) {
    match message {
        WsMessage::Binary => payload::fill_at(id, offset, out),
        WsMessage::Text => {
            // The id in hex, built on the stack: this runs for every piece of every reply.
            let mut hex = [0u8; 16];
            for (i, h) in hex.iter_mut().enumerate() {
                *h = b"0123456789abcdef"[(id >> (60 - 4 * i)) as usize & 0xF];
            }
            for (i, b) in out.iter_mut().enumerate() {
                let pos = offset + i;
                *b = match hex.get(pos) {
                    Some(&h) => h,
                    None => b'a' + (pos % 26) as u8,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests;
