//! The payload pattern both sides agree on, so a client can check every reply byte cheaply.
//!
//! A payload of `n` bytes for request `id` is: the id's little-endian bytes (as many of the 8 as
//! fit), then a fixed 256-byte-periodic pattern. A reply that carries another request's payload,
//! or bytes corrupted on the way, fails [`check`]. Checking is a handful of `memcmp`s against a
//! static table, so verifying every reply costs nothing measurable.

const PERIOD: usize = 256;

const fn make_table() -> [u8; PERIOD] {
    let mut t = [0u8; PERIOD];
    let mut i = 0;
    while i < PERIOD {
        t[i] = (i as u8).wrapping_mul(167).wrapping_add(13);
        i += 1;
    }
    t
}

static TABLE: [u8; PERIOD] = make_table();

/// Writes the pattern for request `id` into `out` (its whole length).
#[inline]
pub fn fill(id: u64, out: &mut [u8]) {
    let idb = id.to_le_bytes();
    let head = out.len().min(8);
    out[..head].copy_from_slice(&idb[..head]);
    let mut pos = head;
    while pos < out.len() {
        let off = pos % PERIOD;
        let take = (PERIOD - off).min(out.len() - pos);
        out[pos..pos + take].copy_from_slice(&TABLE[off..off + take]);
        pos += take;
    }
}

/// Writes bytes `offset .. offset + out.len()` of request `id`'s pattern into `out`, so a long
/// payload can be produced a piece at a time: `fill_at(id, 0, out)` is `fill(id, out)` when `out`
/// is the whole payload.
#[inline]
pub fn fill_at(id: u64, offset: usize, out: &mut [u8]) {
    let idb = id.to_le_bytes();
    let mut pos = 0;
    while pos < out.len() && offset + pos < 8 {
        out[pos] = idb[offset + pos];
        pos += 1;
    }
    while pos < out.len() {
        let off = (offset + pos) % PERIOD;
        let take = (PERIOD - off).min(out.len() - pos);
        out[pos..pos + take].copy_from_slice(&TABLE[off..off + take]);
        pos += take;
    }
}

/// Whether `payload` is exactly the pattern for request `id`.
#[inline]
pub fn check(id: u64, payload: &[u8]) -> bool {
    let idb = id.to_le_bytes();
    let head = payload.len().min(8);
    if payload[..head] != idb[..head] {
        return false;
    }
    let mut pos = head;
    while pos < payload.len() {
        let off = pos % PERIOD;
        let take = (PERIOD - off).min(payload.len() - pos);
        if payload[pos..pos + take] != TABLE[off..off + take] {
            return false;
        }
        pos += take;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_filled_in_pieces_is_the_same_payload() {
        for (len, piece) in [
            (5usize, 2usize),
            (300, 7),
            (70_000, 4096),
            (70_000, 1),
            (9, 8),
        ] {
            let mut whole = vec![0u8; len];
            fill(42, &mut whole);
            let mut pieces = vec![0u8; len];
            let mut at = 0;
            while at < len {
                let n = piece.min(len - at);
                fill_at(42, at, &mut pieces[at..at + n]);
                at += n;
            }
            assert_eq!(pieces, whole, "len {len} in pieces of {piece}");
        }
    }

    #[test]
    fn fill_then_check_for_many_sizes() {
        for len in [0usize, 1, 7, 8, 9, 64, 255, 256, 257, 1000, 70_000] {
            let mut v = vec![0u8; len];
            fill(0xDEAD_BEEF_0102_0304, &mut v);
            assert!(check(0xDEAD_BEEF_0102_0304, &v), "len {len}");
            if len > 0 {
                assert!(
                    !check(0xDEAD_BEEF_0102_0305, &v) || len == 0,
                    "other id, len {len}"
                );
                let last = v.len() - 1;
                v[last] ^= 1;
                assert!(
                    !check(0xDEAD_BEEF_0102_0304, &v),
                    "corrupt last byte, len {len}"
                );
            }
        }
    }
}
