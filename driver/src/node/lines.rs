//! Reading the harness's lines as bytes, never trusting them: a line is capped in length (the
//! rest is skipped, not buffered), may hold any bytes (invalid UTF-8 is a bad line, not the end
//! of the node), and is quoted in logs truncated and escaped, so a 200 MB line of control
//! characters costs one short log line.

use std::io::{self, BufRead};

/// Longest line the node reads; a longer one is skipped whole.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Bytes of a bad line quoted in the log.
pub const PREVIEW_BYTES: usize = 120;

/// One line read by [`read_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// A line (without its newline) is in the buffer.
    Complete,
    /// A line longer than the cap was skipped; how long it was.
    TooLong(usize),
    /// The input is over.
    Eof,
}

/// Reads the next line into `buf` (cleared first), keeping at most `cap` bytes; a longer line
/// is consumed to its end and reported as [`Line::TooLong`].
pub fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>, cap: usize) -> io::Result<Line> {
    buf.clear();
    let mut total = 0usize;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(match total {
                0 => Line::Eof,
                n if n > cap => Line::TooLong(n),
                _ => Line::Complete,
            });
        }
        let (part, newline) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], true),
            None => (chunk, false),
        };
        if total + part.len() <= cap {
            buf.extend_from_slice(part);
        }
        total += part.len();
        let used = part.len() + usize::from(newline);
        input.consume(used);
        if newline {
            return Ok(if total > cap {
                Line::TooLong(total)
            } else {
                Line::Complete
            });
        }
    }
}

/// The start of `bytes` for a log line: at most [`PREVIEW_BYTES`], invalid UTF-8 replaced,
/// control characters escaped, and the full length said when cut.
pub fn preview(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(PREVIEW_BYTES)];
    let text: String = String::from_utf8_lossy(cut)
        .chars()
        .flat_map(char::escape_debug)
        .collect();
    if cut.len() < bytes.len() {
        format!("\"{text}\"... ({} bytes)", bytes.len())
    } else {
        format!("\"{text}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], cap: usize) -> Vec<(Line, Vec<u8>)> {
        let mut r = io::BufReader::with_capacity(7, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let l = read_line(&mut r, &mut buf, cap).unwrap();
            out.push((l, buf.clone()));
            if l == Line::Eof {
                return out;
            }
        }
    }

    #[test]
    fn lines_are_bytes_capped_and_skipped_whole() {
        let got = lines(b"ab\n\xff\xfe\nthis one is long\nok\nlast", 8);
        let kinds: Vec<Line> = got.iter().map(|(l, _)| *l).collect();
        assert_eq!(
            kinds,
            [
                Line::Complete,
                Line::Complete,
                Line::TooLong(16),
                Line::Complete,
                Line::Complete,
                Line::Eof
            ]
        );
        assert_eq!(got[1].1, b"\xff\xfe");
        assert_eq!(got[3].1, b"ok");
        assert_eq!(
            got[4].1, b"last",
            "a last line without a newline still counts"
        );
    }

    #[test]
    fn previews_are_short_and_escaped() {
        assert_eq!(preview(b"a\x1b[31mred\x07"), "\"a\\u{1b}[31mred\\u{7}\"");
        let long = vec![b'x'; 10_000];
        let p = preview(&long);
        assert!(p.len() < 200 && p.ends_with("(10000 bytes)"), "{p}");
        assert_eq!(preview(b"\xff"), "\"\u{fffd}\"");
    }
}
