//! UTF-8 checked a piece at a time, for WebSocket text messages that arrive in fragments
//! (RFC 6455 §8.1): each fragment is echoed as it comes, so the message is never buffered
//! whole just to be checked.
//!
//! Each piece goes through `std::str::from_utf8`, which is as fast as UTF-8 checking gets in
//! std (whole words of ASCII at a time). All that is kept between pieces is a code point the
//! last piece cut in two: at most 3 bytes. Rust's check stops at the first byte that no
//! continuation could make valid, so a message fails on its first bad fragment, not at its end.

/// The bytes of a code point begun at the end of the pieces checked so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Utf8Tail {
    bytes: [u8; 3],
    len: u8,
}

/// The bytes checked so far cannot begin UTF-8 text, whatever follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

impl Utf8Tail {
    /// Checks `piece`, the next bytes of the text.
    pub fn feed(&mut self, mut piece: &[u8]) -> Result<(), Invalid> {
        if self.len > 0 {
            // Finish the code point the last piece began, from the front of this one.
            let held = usize::from(self.len);
            let take = (width(self.bytes[0]) - held).min(piece.len());
            let mut point = [0u8; 4];
            point[..held].copy_from_slice(&self.bytes[..held]);
            point[held..held + take].copy_from_slice(&piece[..take]);
            piece = &piece[take..];
            self.len = 0;
            self.keep(&point[..held + take])?;
            if self.len > 0 {
                // Still not whole: this piece was too short to finish it.
                return Ok(());
            }
        }
        self.keep(piece)
    }

    /// Whether the text may end here: no code point is left unfinished.
    pub fn is_complete(&self) -> bool {
        self.len == 0
    }

    /// Checks `bytes` (with nothing held) and holds an unfinished code point at their end.
    fn keep(&mut self, bytes: &[u8]) -> Result<(), Invalid> {
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            // `error_len() == None`: the end is the start of a code point that more bytes may
            // finish, so it is at most 3 bytes.
            Err(e) if e.error_len().is_none() => {
                let rest = &bytes[e.valid_up_to()..];
                self.bytes[..rest.len()].copy_from_slice(rest);
                self.len = rest.len() as u8;
                Ok(())
            }
            Err(_) => Err(Invalid),
        }
    }
}

/// The length of the code point `lead` starts (RFC 3629). A byte that starts none is never held
/// (from_utf8 refuses it at once); 4 keeps the arithmetic above safe regardless.
fn width(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` cut at every pair of points: the verdict is the whole's, every way.
    fn agrees_in_pieces(text: &[u8]) {
        let whole = std::str::from_utf8(text).is_ok();
        for a in 0..=text.len() {
            for b in a..=text.len() {
                let mut t = Utf8Tail::default();
                let ok = [&text[..a], &text[a..b], &text[b..]]
                    .iter()
                    .all(|p| t.feed(p).is_ok())
                    && t.is_complete();
                assert_eq!(ok, whole, "{text:x?} cut at {a} and {b}");
            }
        }
    }

    #[test]
    fn pieces_agree_with_the_whole() {
        for text in [
            &b"plain ascii"[..],
            "h\u{e9}llo \u{20ac} \u{1f600}!".as_bytes(),
            b"\xff",
            b"ok\xe2\x82",        // cut short at the end
            b"ok\xe2\x28\xa1",    // a bad second byte
            b"\xed\xa0\x80",      // a surrogate
            b"\xc0\xaf",          // overlong
            b"\xf4\x90\x80\x80",  // past U+10FFFF
            b"\xf0\x9f\x98\x80x", // 4 bytes then ASCII
        ] {
            agrees_in_pieces(text);
        }
    }

    #[test]
    fn a_bad_prefix_fails_at_once_and_only_a_partial_code_point_is_held() {
        let mut t = Utf8Tail::default();
        assert_eq!(t.feed(b"ok\xe2\x82"), Ok(()));
        assert_eq!((t.len, t.is_complete()), (2, false));
        let mut t = Utf8Tail::default();
        // No byte after 0xE2 0x28 can make it UTF-8: refused before the message ends.
        assert_eq!(t.feed(b"ok\xe2\x28"), Err(Invalid));
        let mut t = Utf8Tail::default();
        assert_eq!(t.feed(b"\xf0"), Ok(()));
        assert_eq!(t.feed(b"\x9f"), Ok(()));
        assert_eq!(t.feed(b"\x98"), Ok(()));
        assert_eq!(t.len, 3);
        assert_eq!(t.feed(b"\x80"), Ok(()));
        assert!(t.is_complete());
    }
}
