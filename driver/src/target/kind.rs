//! A reply's kind, for the report's distribution: an HTTP status (`200`), a RESP reply type
//! (`bulk`, `error ERR`). Small and `Copy`, so counting one per reply allocates nothing.

use std::fmt;

/// Longest kind name kept; longer names are cut.
const MAX_LEN: usize = 22;

/// A short label naming what kind of reply arrived.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyKind {
    len: u8,
    bytes: [u8; MAX_LEN],
}

impl ReplyKind {
    /// A kind named `name` (cut to 22 bytes, at a character boundary).
    pub fn new(name: &str) -> ReplyKind {
        let mut end = name.len().min(MAX_LEN);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; MAX_LEN];
        bytes[..end].copy_from_slice(&name.as_bytes()[..end]);
        ReplyKind {
            len: end as u8,
            bytes,
        }
    }

    /// An HTTP status code.
    pub fn status(code: u16) -> ReplyKind {
        let mut bytes = [0u8; MAX_LEN];
        let mut n = code;
        let digits = if code >= 100 {
            3
        } else if code >= 10 {
            2
        } else {
            1
        };
        for i in (0..digits).rev() {
            bytes[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        ReplyKind {
            len: digits as u8,
            bytes,
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Built from a &str cut at a character boundary, or from ASCII digits.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("?")
    }
}

impl fmt::Debug for ReplyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplyKind({})", self.as_str())
    }
}

impl fmt::Display for ReplyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_name_themselves() {
        assert_eq!(ReplyKind::status(200).as_str(), "200");
        assert_eq!(ReplyKind::status(99).as_str(), "99");
        assert_eq!(ReplyKind::status(200), ReplyKind::new("200"));
        assert_eq!(
            ReplyKind::new("error WRONGTYPE").to_string(),
            "error WRONGTYPE"
        );
        let long = "é".repeat(20);
        assert!(ReplyKind::new(&long).as_str().len() <= MAX_LEN);
    }
}
