//! Properties of the codec over random input: what is encoded decodes to the same frame, and no
//! byte sequence makes the decoder panic or claim more bytes than it was given.

use nines_protocol::{decode, encode, Flags, Header, Op, DEFAULT_MAX_FRAME_BYTES, HEADER_LEN};
use proptest::prelude::*;

fn any_op() -> impl Strategy<Value = Op> {
    prop::sample::select(Op::ALL.to_vec())
}

fn any_header() -> impl Strategy<Value = Header> {
    (
        any_op(),
        any::<u16>(),
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(op, flags, arg, request_id, sent_ns, residence_ns)| Header {
                op,
                flags: Flags(flags),
                arg,
                request_id,
                sent_ns,
                residence_ns,
                payload_len: 0,
            },
        )
}

proptest! {
    #[test]
    fn random_frames_round_trip(
        frames in prop::collection::vec((any_header(), prop::collection::vec(any::<u8>(), 0..300)), 1..8),
        chunk in 1usize..64,
    ) {
        let mut stream = Vec::new();
        for (h, p) in &frames {
            encode(h, p, &mut stream);
        }
        // Feed in chunks of a random size, as a socket would deliver them.
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some((f, n)) = decode(&buf, DEFAULT_MAX_FRAME_BYTES).unwrap() {
                prop_assert_eq!(n, HEADER_LEN + f.payload.len());
                got.push((f.header, f.payload.to_vec()));
                buf.drain(..n);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got.len(), frames.len());
        for ((h, p), (gh, gp)) in frames.iter().zip(got.iter()) {
            prop_assert_eq!(Header { payload_len: p.len() as u32, ..*h }, *gh);
            prop_assert_eq!(p, gp);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), max in 0usize..2048) {
        let mut rest = &bytes[..];
        while let Ok(Some((_, n))) = decode(rest, max) {
            prop_assert!(n >= HEADER_LEN && n <= rest.len());
            rest = &rest[n..];
        }
    }

    #[test]
    fn valid_prefix_then_random_tail_never_panics(h in any_header(), tail in prop::collection::vec(any::<u8>(), 0..128)) {
        let mut v = Vec::new();
        encode(&h, &tail, &mut v);
        v.truncate(HEADER_LEN.min(v.len()));
        v.extend_from_slice(&tail);
        let _ = decode(&v, DEFAULT_MAX_FRAME_BYTES);
    }
}
