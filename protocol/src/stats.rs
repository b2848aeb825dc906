//! The Stats reply payload: server counters as `name value` text lines.
//!
//! Text rather than a binary struct so that new counters (the phase profile, per-kind errors)
//! can be added without a version bump and a human can read a capture. It is produced and parsed
//! off the hot path, so allocation here is fine.

use std::fmt;

/// Appends `name value\n` for each pair to `out`.
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, u64)>, out: &mut Vec<u8>) {
    use std::io::Write;
    for (k, v) in pairs {
        // Writing to a Vec cannot fail.
        let _ = writeln!(out, "{k} {v}");
    }
}

/// A Stats payload that is not `name value` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number of the first bad line.
    pub line: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stats payload line {} is not `name value`", self.line)
    }
}

impl std::error::Error for ParseError {}

/// Parses a Stats payload into (name, value) pairs, in the order sent.
pub fn parse(payload: &[u8]) -> Result<Vec<(String, u64)>, ParseError> {
    let text = std::str::from_utf8(payload).map_err(|_| ParseError { line: 1 })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split(' ');
        let (Some(k), Some(v), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ParseError { line: i + 1 });
        };
        let v = v.parse().map_err(|_| ParseError { line: i + 1 })?;
        out.push((k.to_string(), v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let mut v = Vec::new();
        encode([("requests", 10), ("bytes_in", u64::MAX)], &mut v);
        assert_eq!(
            parse(&v).unwrap(),
            vec![
                ("requests".to_string(), 10),
                ("bytes_in".to_string(), u64::MAX)
            ]
        );
        assert_eq!(parse(b"a 1\nb two\n"), Err(ParseError { line: 2 }));
        assert_eq!(parse(b"a 1 2\n"), Err(ParseError { line: 1 }));
        assert_eq!(parse(&[0xff, 0xfe]), Err(ParseError { line: 1 }));
    }
}
