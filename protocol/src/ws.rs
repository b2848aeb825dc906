//! WebSocket framing (RFC 6455 §5) and the opening handshake's key check (§4.2.2), shared by
//! nines-server's `ws` responder and the driver's `ws://` client so both read the same bytes the
//! same way.
//!
//! Like the nines frame decoder, [`decode`] is incremental and allocation-free: it reads a frame
//! header from the front of a buffer and says how long the whole frame is; the caller slices
//! the payload out (and unmasks it with [`apply_mask`]). No extensions are negotiated, so any
//! reserved bit is an error.

use std::fmt;

use base64::Engine as _;

/// The GUID a server appends to the client's key before hashing (RFC 6455 §1.3).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Largest payload of a control frame (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Longest frame header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// The next fragment of a message.
    Continuation,
    /// A UTF-8 text message (or its first fragment).
    Text,
    /// A binary message (or its first fragment).
    Binary,
    /// The closing handshake.
    Close,
    /// A ping, to be answered by a pong with the same payload.
    Ping,
    /// A pong.
    Pong,
}

impl Opcode {
    fn from_bits(b: u8) -> Option<Opcode> {
        Some(match b {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// One frame's header, as read from the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    /// Last fragment of its message.
    pub fin: bool,
    /// What the frame is.
    pub opcode: Opcode,
    /// The masking key (every client-to-server frame has one; no server frame does).
    pub mask: Option<[u8; 4]>,
    /// Header bytes before the payload.
    pub header_len: usize,
    /// Payload bytes.
    pub payload_len: usize,
}

impl FrameHead {
    /// The whole frame's length.
    pub fn frame_len(&self) -> usize {
        self.header_len + self.payload_len
    }
}

/// Bytes that are not a WebSocket frame this side accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsError {
    /// A reserved bit is set (no extension was negotiated).
    ReservedBits,
    /// The opcode is one RFC 6455 reserves.
    UnknownOpcode(u8),
    /// A control frame is fragmented or longer than 125 bytes.
    BadControlFrame,
    /// The payload is longer than the receiver accepts.
    TooLarge {
        /// Announced payload length.
        len: u64,
        /// The receiver's limit.
        max: usize,
    },
}

impl WsError {
    /// Short stable name for counters and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            WsError::ReservedBits => "ws_reserved_bits",
            WsError::UnknownOpcode(_) => "ws_unknown_opcode",
            WsError::BadControlFrame => "ws_bad_control_frame",
            WsError::TooLarge { .. } => "ws_too_large",
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::ReservedBits => f.write_str("WebSocket frame with reserved bits set"),
            WsError::UnknownOpcode(op) => write!(f, "WebSocket frame with reserved opcode {op:#x}"),
            WsError::BadControlFrame => {
                f.write_str("WebSocket control frame fragmented or over 125 bytes")
            }
            WsError::TooLarge { len, max } => {
                write!(f, "WebSocket frame of {len} bytes, over the limit of {max}")
            }
        }
    }
}

impl std::error::Error for WsError {}

/// Reads the header of the frame at the front of `buf`: `Ok(None)` until the header is
/// complete (the payload may still be arriving: compare [`FrameHead::frame_len`] with what is
/// buffered). Payloads over `max_payload` are refused before they are buffered.
pub fn decode(buf: &[u8], max_payload: usize) -> Result<Option<FrameHead>, WsError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(WsError::ReservedBits);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(WsError::UnknownOpcode(b0 & 0x0F))?;
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => (u64::from_be_bytes(b.try_into().expect("8 bytes")), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if opcode.is_control() && (!fin || len > MAX_CONTROL_PAYLOAD as u64) {
        return Err(WsError::BadControlFrame);
    }
    if len > max_payload as u64 {
        return Err(WsError::TooLarge {
            len,
            max: max_payload,
        });
    }
    let mask = if masked {
        let Some(m) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        at += 4;
        Some([m[0], m[1], m[2], m[3]])
    } else {
        None
    };
    Ok(Some(FrameHead {
        fin,
        opcode,
        mask,
        header_len: at,
        payload_len: len as usize,
    }))
}

/// Appends a frame header for a `len`-byte payload; with a mask, the caller appends the payload
/// and masks it with [`apply_mask`] from offset 0.
pub fn encode_header(
    fin: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    len: usize,
    out: &mut Vec<u8>,
) {
    out.push(u8::from(fin) << 7 | opcode.bits());
    let m = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        out.push(m | len as u8);
    } else if let Ok(n) = u16::try_from(len) {
        out.push(m | 126);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(k) = mask {
        out.extend_from_slice(&k);
    }
}

/// Appends a whole frame: header, then `payload` (masked with `mask` if given).
pub fn encode(fin: bool, opcode: Opcode, mask: Option<[u8; 4]>, payload: &[u8], out: &mut Vec<u8>) {
    encode_header(fin, opcode, mask, payload.len(), out);
    let at = out.len();
    out.extend_from_slice(payload);
    if let Some(k) = mask {
        apply_mask(k, 0, &mut out[at..]);
    }
}

/// Masks or unmasks (the same XOR) `bytes`, which start `offset` bytes into the payload.
#[inline]
pub fn apply_mask(mask: [u8; 4], offset: usize, bytes: &mut [u8]) {
    // Four bytes at a time: the key repeated over a u32, rotated to where `offset` starts.
    let key = u32::from_ne_bytes([
        mask[offset % 4],
        mask[(offset + 1) % 4],
        mask[(offset + 2) % 4],
        mask[(offset + 3) % 4],
    ]);
    let mut chunks = bytes.chunks_exact_mut(4);
    for c in &mut chunks {
        let v = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) ^ key;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    let key = key.to_ne_bytes();
    for (b, k) in chunks.into_remainder().iter_mut().zip(key) {
        *b ^= k;
    }
}

/// The `Sec-WebSocket-Accept` value a server must send for the client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(key);
    h.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.digest().bytes())
}

/// A `Sec-WebSocket-Key`: 16 bytes derived from `seed`, base64-encoded (the RFC asks for a
/// random nonce; a benchmark needs it unpredictable only to caches, not to attackers).
pub fn client_key(seed: u64) -> String {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
    b[8..].copy_from_slice(&(seed ^ 0xD1B5_4A32_D192_ED03).rotate_left(17).to_le_bytes());
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_the_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(client_key(7).len(), 24);
    }

    #[test]
    fn frames_round_trip_at_every_length_class() {
        for len in [0, 5, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            encode(true, Opcode::Binary, Some([1, 2, 3, 4]), &payload, &mut out);
            let h = decode(&out, 1 << 20).unwrap().unwrap();
            assert_eq!(
                (h.fin, h.opcode, h.payload_len),
                (true, Opcode::Binary, len)
            );
            assert_eq!(h.frame_len(), out.len());
            assert_eq!(decode(&out[..h.header_len - 1], 1 << 20), Ok(None));
            let mut p = out[h.header_len..].to_vec();
            apply_mask(h.mask.unwrap(), 0, &mut p);
            assert_eq!(p, payload);
        }
    }

    #[test]
    fn masking_in_pieces_equals_masking_whole() {
        let k = [9, 8, 7, 6];
        let mut whole: Vec<u8> = (0..37).collect();
        let mut parts = whole.clone();
        apply_mask(k, 0, &mut whole);
        let (a, b) = parts.split_at_mut(11);
        apply_mask(k, 0, a);
        apply_mask(k, 11, b);
        assert_eq!(whole, parts);
    }

    #[test]
    fn bad_frames_are_refused() {
        assert_eq!(decode(&[0xC2, 0], 10), Err(WsError::ReservedBits));
        assert_eq!(decode(&[0x83, 0], 10), Err(WsError::UnknownOpcode(3)));
        assert_eq!(decode(&[0x09, 0], 10), Err(WsError::BadControlFrame));
        assert_eq!(
            decode(&[0x89, 126, 0, 200], 1000),
            Err(WsError::BadControlFrame)
        );
        assert_eq!(
            decode(&[0x82, 127, 0xFF, 0, 0, 0, 0, 0, 0, 0], 10),
            Err(WsError::TooLarge {
                len: 0xFF00_0000_0000_0000,
                max: 10
            })
        );
    }
}
