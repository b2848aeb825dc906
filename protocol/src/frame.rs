//! Frame header, incremental decoding and encoding.
//!
//! Layout (all integers little-endian, 40 bytes before the payload):
//!
//! | offset | size | field          | meaning                                                   |
//! |-------:|-----:|----------------|-----------------------------------------------------------|
//! | 0      | 2    | magic          | `b"N9"`; anything else is not a nines stream              |
//! | 2      | 1    | version        | 1                                                         |
//! | 3      | 1    | op             | 1 Echo, 2 Work, 3 Source, 4 Stats                         |
//! | 4      | 2    | flags          | bit 0 RESPONSE, bit 1 CAPPED; other bits ignored          |
//! | 6      | 2    | reserved       | 0 in version 1, ignored by decoders                       |
//! | 8      | 4    | payload_len    | bytes of payload after the header                         |
//! | 12     | 4    | arg            | Work: CPU µs; Source: reply bytes; otherwise 0            |
//! | 16     | 8    | request_id     | chosen by the client, copied into the reply               |
//! | 24     | 8    | sent_ns        | client's intended send time, copied into the reply        |
//! | 32     | 8    | residence_ns   | 0 in requests; server time from read to reply in replies  |
//!
//! The decoder checks the magic, version and op as soon as those bytes arrive, so a client that
//! sends garbage is rejected on its first bytes instead of after the server has buffered a
//! "length" it made up.

use std::fmt;

/// The two bytes every frame starts with.
pub const MAGIC: [u8; 2] = *b"N9";
/// The only wire version this crate speaks.
pub const VERSION: u8 = 1;
/// Bytes in the fixed header that precedes every payload.
pub const HEADER_LEN: usize = 40;
/// Largest frame (header + payload) accepted unless configured otherwise: 1 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1 << 20;

const OFF_VERSION: usize = 2;
const OFF_OP: usize = 3;
const OFF_FLAGS: usize = 4;
const OFF_PAYLOAD_LEN: usize = 8;
const OFF_ARG: usize = 12;
const OFF_REQUEST_ID: usize = 16;
const OFF_SENT_NS: usize = 24;
const OFF_RESIDENCE_NS: usize = 32;

/// What a frame asks the server to do. Replies carry the op of their request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    /// Reply with the request's payload.
    Echo = 1,
    /// Burn `arg` microseconds of CPU (capped by the server), then reply with an empty payload.
    Work = 2,
    /// Reply with `arg` bytes of payload (capped by the server's maximum frame size).
    Source = 3,
    /// Reply with the server's counters as a `stats` payload (see [`crate::stats`]).
    Stats = 4,
}

impl Op {
    /// All ops, in wire order.
    pub const ALL: [Op; 4] = [Op::Echo, Op::Work, Op::Source, Op::Stats];

    /// The op for a wire byte, if it is one.
    #[inline]
    pub fn from_u8(b: u8) -> Option<Op> {
        match b {
            1 => Some(Op::Echo),
            2 => Some(Op::Work),
            3 => Some(Op::Source),
            4 => Some(Op::Stats),
            _ => None,
        }
    }

    /// Lower-case name, as used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Echo => "echo",
            Op::Work => "work",
            Op::Source => "source",
            Op::Stats => "stats",
        }
    }

    /// The op with this [`Op::name`], if there is one.
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Header flag bits. Unknown bits are carried but ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(pub u16);

impl Flags {
    /// Set on every frame the server sends.
    pub const RESPONSE: Flags = Flags(1);
    /// Set on a reply when the server lowered the request's `arg` to its configured cap.
    pub const CAPPED: Flags = Flags(2);

    /// Whether all bits of `other` are set.
    #[inline]
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Union of the two sets of bits.
    #[inline]
    #[must_use]
    pub fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// The fixed part of a frame. `payload_len` is filled in by [`encode`] and by the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// What the frame asks for (or answers).
    pub op: Op,
    /// Flag bits.
    pub flags: Flags,
    /// Op argument: microseconds for Work, bytes for Source, 0 otherwise.
    pub arg: u32,
    /// Client-chosen id; the reply carries the same id.
    pub request_id: u64,
    /// The client's intended send time in nanoseconds on the client's own clock.
    pub sent_ns: u64,
    /// Nanoseconds the request spent in the server (0 in requests).
    pub residence_ns: u64,
    /// Bytes of payload that follow the header.
    pub payload_len: u32,
}

impl Header {
    /// A request header for `op` with everything else zero.
    pub fn request(op: Op, request_id: u64) -> Header {
        Header {
            op,
            flags: Flags::default(),
            arg: 0,
            request_id,
            sent_ns: 0,
            residence_ns: 0,
            payload_len: 0,
        }
    }

    /// The reply header for this request: same op, id and timestamps, RESPONSE flag set.
    pub fn reply(&self) -> Header {
        Header {
            flags: Flags::RESPONSE,
            residence_ns: 0,
            payload_len: 0,
            ..*self
        }
    }
}

/// A decoded frame whose payload borrows from the decoder's input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The fixed header.
    pub header: Header,
    /// The payload bytes, `header.payload_len` long, not copied.
    pub payload: &'a [u8],
}

/// Why a byte stream can never become a valid frame. Each one closes the connection it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The stream does not start with `N9`: the peer is not speaking nines (try `--protocol echo`).
    BadMagic,
    /// The frame is for a wire version this build does not speak; upgrade the older side.
    UnsupportedVersion(u8),
    /// The op byte names no known op.
    UnknownOp(u8),
    /// The frame (header + payload) is larger than the receiver's maximum (`--max-frame`).
    FrameTooLarge {
        /// Total frame length the header announced.
        len: u64,
        /// The receiver's configured maximum.
        max: usize,
    },
}

impl DecodeError {
    /// Short stable name for counters and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::BadMagic => "bad_magic",
            DecodeError::UnsupportedVersion(_) => "unsupported_version",
            DecodeError::UnknownOp(_) => "unknown_op",
            DecodeError::FrameTooLarge { .. } => "frame_too_large",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BadMagic => {
                f.write_str("bad magic: the peer is not speaking the nines protocol")
            }
            DecodeError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "unsupported protocol version {v} (this build speaks {VERSION})"
                )
            }
            DecodeError::UnknownOp(op) => write!(f, "unknown op {op}"),
            DecodeError::FrameTooLarge { len, max } => {
                write!(
                    f,
                    "frame of {len} bytes is larger than the maximum of {max} bytes"
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}

#[inline]
fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

#[inline]
fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

#[inline]
fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// Decodes one frame from the front of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only part of a frame (an expected condition: read more and
/// call again), `Ok(Some((frame, len)))` when a whole frame is there (the caller consumes `len`
/// bytes; what follows may be the next pipelined frame), and `Err` for bytes that can never become
/// a valid frame. `max_frame_bytes` bounds header + payload so a hostile length never turns into
/// an allocation.
#[inline]
pub fn decode(
    buf: &[u8],
    max_frame_bytes: usize,
) -> Result<Option<(Frame<'_>, usize)>, DecodeError> {
    // Reject as early as the bytes allow, one byte at a time, so garbage is caught at once.
    for (i, &m) in MAGIC.iter().enumerate() {
        match buf.get(i) {
            None => return Ok(None),
            Some(&b) if b != m => return Err(DecodeError::BadMagic),
            Some(_) => {}
        }
    }
    match buf.get(OFF_VERSION) {
        None => return Ok(None),
        Some(&v) if v != VERSION => return Err(DecodeError::UnsupportedVersion(v)),
        Some(_) => {}
    }
    let op = match buf.get(OFF_OP) {
        None => return Ok(None),
        Some(&b) => Op::from_u8(b).ok_or(DecodeError::UnknownOp(b))?,
    };
    if buf.len() < OFF_PAYLOAD_LEN + 4 {
        return Ok(None);
    }
    let payload_len = u32_at(buf, OFF_PAYLOAD_LEN);
    // u32 + 40 cannot overflow u64, and is compared before any slicing.
    let total = HEADER_LEN as u64 + u64::from(payload_len);
    if total > max_frame_bytes as u64 {
        return Err(DecodeError::FrameTooLarge {
            len: total,
            max: max_frame_bytes,
        });
    }
    let total = total as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let header = Header {
        op,
        flags: Flags(u16_at(buf, OFF_FLAGS)),
        arg: u32_at(buf, OFF_ARG),
        request_id: u64_at(buf, OFF_REQUEST_ID),
        sent_ns: u64_at(buf, OFF_SENT_NS),
        residence_ns: u64_at(buf, OFF_RESIDENCE_NS),
        payload_len,
    };
    Ok(Some((
        Frame {
            header,
            payload: &buf[HEADER_LEN..total],
        },
        total,
    )))
}

/// Appends only the header of a frame whose `payload_len` bytes the caller appends afterwards
/// (a large reply produced a piece at a time). Returns the offset of the frame in `out`.
#[inline]
pub fn encode_header(header: &Header, payload_len: u32, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    write_header(header, payload_len, out);
    start
}

/// Appends `header` followed by `payload_len` bytes produced by `fill` to `out`.
///
/// `fill` receives a slice of exactly `payload_len` zeroed bytes to write the payload into, which
/// lets the server produce a Source reply in place. Returns the offset of the frame in `out`.
#[inline]
pub fn encode_with(
    header: &Header,
    payload_len: u32,
    out: &mut Vec<u8>,
    fill: impl FnOnce(&mut [u8]),
) -> usize {
    let start = out.len();
    write_header(header, payload_len, out);
    let body = out.len();
    out.resize(body + payload_len as usize, 0);
    fill(&mut out[body..]);
    start
}

/// Appends `header` and `payload` to `out` as one frame (`payload_len` is taken from `payload`).
/// Returns the offset of the frame in `out`, for [`patch_residence`].
///
/// # Panics
/// If `payload` is longer than `u32::MAX` bytes, which no frame under the maximum can be.
#[inline]
pub fn encode(header: &Header, payload: &[u8], out: &mut Vec<u8>) -> usize {
    let len = u32::try_from(payload.len()).expect("payload longer than u32::MAX");
    let start = out.len();
    write_header(header, len, out);
    out.extend_from_slice(payload);
    start
}

#[inline]
fn write_header(h: &Header, payload_len: u32, out: &mut Vec<u8>) {
    let mut b = [0u8; HEADER_LEN];
    b[0..2].copy_from_slice(&MAGIC);
    b[OFF_VERSION] = VERSION;
    b[OFF_OP] = h.op as u8;
    b[OFF_FLAGS..OFF_FLAGS + 2].copy_from_slice(&h.flags.0.to_le_bytes());
    b[OFF_PAYLOAD_LEN..OFF_PAYLOAD_LEN + 4].copy_from_slice(&payload_len.to_le_bytes());
    b[OFF_ARG..OFF_ARG + 4].copy_from_slice(&h.arg.to_le_bytes());
    b[OFF_REQUEST_ID..OFF_REQUEST_ID + 8].copy_from_slice(&h.request_id.to_le_bytes());
    b[OFF_SENT_NS..OFF_SENT_NS + 8].copy_from_slice(&h.sent_ns.to_le_bytes());
    b[OFF_RESIDENCE_NS..OFF_RESIDENCE_NS + 8].copy_from_slice(&h.residence_ns.to_le_bytes());
    out.extend_from_slice(&b);
}

/// Overwrites the residence field of the frame that starts at `frame_start` in `buf`.
///
/// The server encodes a batch of replies first and learns how long the batch took afterwards;
/// patching in place keeps it to one clock read per batch instead of one per request.
///
/// # Panics
/// If `buf` does not hold a whole header at `frame_start` (a caller bug, not network input).
#[inline]
pub fn patch_residence(buf: &mut [u8], frame_start: usize, residence_ns: u64) {
    let at = frame_start + OFF_RESIDENCE_NS;
    buf[at..at + 8].copy_from_slice(&residence_ns.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_bytes(h: Header, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode(&h, payload, &mut v);
        v
    }

    fn sample(op: Op, id: u64) -> Header {
        Header {
            op,
            flags: Flags::default(),
            arg: 17,
            request_id: id,
            sent_ns: 123_456_789,
            residence_ns: 0,
            payload_len: 0,
        }
    }

    #[test]
    fn every_op_round_trips() {
        for op in Op::ALL {
            let payload: Vec<u8> = (0..200u8).collect();
            let h = sample(op, 42);
            let bytes = frame_bytes(h, &payload);
            assert_eq!(bytes.len(), HEADER_LEN + payload.len());
            let (f, used) = decode(&bytes, DEFAULT_MAX_FRAME_BYTES).unwrap().unwrap();
            assert_eq!(used, bytes.len());
            assert_eq!(
                f.header,
                Header {
                    payload_len: 200,
                    ..h
                }
            );
            assert_eq!(f.payload, &payload[..]);
            assert_eq!(Op::from_u8(op as u8), Some(op));
        }
    }

    #[test]
    fn reply_keeps_id_and_timestamps_and_sets_response() {
        let h = sample(Op::Work, 9);
        let r = h.reply();
        assert!(r.flags.contains(Flags::RESPONSE));
        assert_eq!(
            (r.request_id, r.sent_ns, r.op, r.arg),
            (9, h.sent_ns, Op::Work, 17)
        );
    }

    #[test]
    fn residence_patch_lands_in_the_header() {
        let mut v = Vec::new();
        encode(&sample(Op::Echo, 1), b"a", &mut v);
        let second = encode(&sample(Op::Echo, 2), b"bc", &mut v);
        patch_residence(&mut v, second, 777);
        let (f1, n) = decode(&v, 1024).unwrap().unwrap();
        assert_eq!(f1.header.residence_ns, 0);
        let (f2, _) = decode(&v[n..], 1024).unwrap().unwrap();
        assert_eq!((f2.header.request_id, f2.header.residence_ns), (2, 777));
    }

    #[test]
    fn encode_with_fills_in_place() {
        let mut v = vec![0xAA];
        let at = encode_with(&sample(Op::Source, 3), 5, &mut v, |b| {
            b.copy_from_slice(b"hello")
        });
        assert_eq!(at, 1);
        let (f, _) = decode(&v[1..], 1024).unwrap().unwrap();
        assert_eq!(f.payload, b"hello");
    }

    /// A stream of several frames fed byte by byte yields exactly those frames, in order, and
    /// every proper prefix of a frame is "need more", never an error.
    #[test]
    fn byte_by_byte_feeding_and_every_split_point() {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (i, op) in Op::ALL.iter().cycle().take(7).enumerate() {
            let payload = vec![i as u8; i * 3];
            encode(&sample(*op, i as u64), &payload, &mut stream);
            expected.push((i as u64, payload));
        }
        // Byte by byte.
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for &b in &stream {
            buf.push(b);
            while let Some((f, n)) = decode(&buf, DEFAULT_MAX_FRAME_BYTES).unwrap() {
                got.push((f.header.request_id, f.payload.to_vec()));
                buf.drain(..n);
            }
        }
        assert!(buf.is_empty());
        assert_eq!(got, expected);
        // Every split point into two reads.
        for split in 0..=stream.len() {
            let mut buf = stream[..split].to_vec();
            let mut got = Vec::new();
            let drain = |buf: &mut Vec<u8>, got: &mut Vec<(u64, Vec<u8>)>| {
                while let Some((f, n)) = decode(buf, DEFAULT_MAX_FRAME_BYTES).unwrap() {
                    got.push((f.header.request_id, f.payload.to_vec()));
                    buf.drain(..n);
                }
            };
            drain(&mut buf, &mut got);
            buf.extend_from_slice(&stream[split..]);
            drain(&mut buf, &mut got);
            assert_eq!(got, expected, "split at {split}");
        }
    }

    #[test]
    fn each_error_kind() {
        let good = frame_bytes(sample(Op::Echo, 1), b"xyz");
        // Bad magic is caught on the very first byte.
        assert_eq!(decode(b"G", 1024), Err(DecodeError::BadMagic));
        assert_eq!(decode(b"NX", 1024), Err(DecodeError::BadMagic));
        assert_eq!(
            decode(b"GET / HTTP/1.1\r\n", 1024),
            Err(DecodeError::BadMagic)
        );
        let mut v = good.clone();
        v[2] = 9;
        assert_eq!(
            decode(&v[..3], 1024),
            Err(DecodeError::UnsupportedVersion(9))
        );
        let mut v = good.clone();
        v[3] = 0;
        assert_eq!(decode(&v[..4], 1024), Err(DecodeError::UnknownOp(0)));
        v[3] = 200;
        assert_eq!(decode(&v, 1024), Err(DecodeError::UnknownOp(200)));
        let mut v = good.clone();
        v[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            decode(&v[..12], DEFAULT_MAX_FRAME_BYTES),
            Err(DecodeError::FrameTooLarge {
                len: HEADER_LEN as u64 + u64::from(u32::MAX),
                max: DEFAULT_MAX_FRAME_BYTES
            })
        );
        // Exactly at the maximum is fine; one byte over is not.
        let at_max = frame_bytes(sample(Op::Echo, 1), &[0u8; 60]);
        assert!(decode(&at_max, 100).unwrap().is_some());
        assert!(matches!(
            decode(&at_max, 99),
            Err(DecodeError::FrameTooLarge { len: 100, max: 99 })
        ));
        for e in [
            DecodeError::BadMagic,
            DecodeError::UnsupportedVersion(2),
            DecodeError::UnknownOp(7),
            DecodeError::FrameTooLarge { len: 5, max: 4 },
        ] {
            assert!(!e.to_string().is_empty());
            assert!(!e.kind().is_empty());
        }
    }

    #[test]
    fn partial_header_is_need_more() {
        let good = frame_bytes(sample(Op::Stats, 5), b"");
        for cut in 0..good.len() {
            assert_eq!(decode(&good[..cut], 1024), Ok(None), "cut at {cut}");
        }
    }
}
