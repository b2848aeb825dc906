//! What a file is, from its first bytes, before it is read whole: a user who passes the wrong
//! file (an empty one, `null`, a list, a compressed or binary file, a 2 GiB core dump) is told
//! what it is at once, instead of waiting while it is read into memory to hear that it is "not a
//! valid interval log".

/// How much of a file is looked at before deciding how to read the rest.
pub(crate) const HEAD_BYTES: usize = 4096;

/// Bytes of a file quoted when saying what it is.
const QUOTE_BYTES: usize = 60;

/// What a file's first bytes say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sniffed {
    /// A JSON object: a report or a sweep, read whole.
    JsonObject,
    /// `#` or `Tag=` first: an HdrHistogram interval log.
    Log,
    /// A JSON scalar (`null`, `42`, `"text"`, `true`) or an interval log without its header (a
    /// line of numbers, or the `"StartTimestamp",...` legend): told apart once read whole.
    ScalarOrLog,
    /// Not a result; what it is, said after the file's name ("is empty").
    Not(String),
}

/// What `head`, the first bytes of a file (all of it when `whole`), says the file is.
pub(crate) fn sniff(head: &[u8], whole: bool) -> Sniffed {
    let Some(start) = head.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Sniffed::Not(match (head.is_empty(), whole) {
            (true, _) => "empty".to_string(),
            (false, true) => "empty (blank space only)".to_string(),
            (false, false) => format!(
                "not a result: its first {} bytes are blank space",
                head.len()
            ),
        });
    };
    let text = &head[start..];
    match text[0] {
        b'{' => Sniffed::JsonObject,
        b'[' => {
            Sniffed::Not("a JSON array, not a nines report (a report is one JSON object)".into())
        }
        b'#' => Sniffed::Log,
        _ if text.starts_with(b"Tag=") => Sniffed::Log,
        b'"' | b'-' | b'0'..=b'9' | b'n' | b't' | b'f' => Sniffed::ScalarOrLog,
        _ => Sniffed::Not(other(head)),
    }
}

/// What a file that begins like no result is: compressed, binary, or some other text.
fn other(head: &[u8]) -> String {
    const NOT: &str = "not a nines report, sweep or HdrHistogram interval log";
    if head.starts_with(&[0x1f, 0x8b]) {
        return "gzip-compressed: decompress it first (gunzip -k FILE)".into();
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return "zstd-compressed: decompress it first (zstd -d FILE)".into();
    }
    let quoted = &head[..head.len().min(QUOTE_BYTES)];
    if is_binary(head) {
        let hex: Vec<String> = quoted.iter().take(8).map(|b| format!("{b:02x}")).collect();
        return format!("binary (it begins {}), {NOT}", hex.join(" "));
    }
    let text: String = String::from_utf8_lossy(quoted)
        .chars()
        .flat_map(char::escape_debug)
        .collect();
    format!("{NOT}: it begins \"{text}\"")
}

/// Bytes no text file holds: NUL, other control characters, or invalid UTF-8 (a character cut
/// at the end of the head is not held against it).
fn is_binary(head: &[u8]) -> bool {
    let control = head
        .iter()
        .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'));
    let utf8 = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    control || !utf8
}

/// A short, escaped rendering of a JSON value for an error message.
pub(crate) fn quote_json(v: &serde_json::Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(QUOTE_BYTES) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_say_what_a_file_is() {
        let not = |head: &[u8], whole: bool| match sniff(head, whole) {
            Sniffed::Not(what) => what,
            s => panic!("{head:?}: {s:?}"),
        };
        assert_eq!(not(b"", true), "empty");
        assert_eq!(not(b" \n\t", true), "empty (blank space only)");
        assert!(not(b"[1,2,3]", true).starts_with("a JSON array"));
        assert!(not(b"\x1f\x8b\x08\0", false).starts_with("gzip"));
        assert!(not(&[0u8; 64], false).starts_with("binary (it begins 00 00 00 00"));
        assert!(not(b"\x7fELF\x02\x01", false).starts_with("binary (it begins 7f 45 4c 46"));
        let text = not(b"hello\x1b\n1,2,3\n", true);
        assert!(text.starts_with("binary"), "a control character: {text}");
        let text = not(b"hello\n1,2,3\n", true);
        assert!(text.contains("interval log") && text.ends_with("it begins \"hello\\n1,2,3\\n\""));
        // A multi-byte character cut by the end of the head is still text.
        assert!(not("é".repeat(10).as_bytes()[..5].as_ref(), false).contains("it begins"));

        assert_eq!(sniff(b"  {\"format\"", false), Sniffed::JsonObject);
        assert_eq!(sniff(b"#[StartTime: 1]", false), Sniffed::Log);
        assert_eq!(sniff(b"Tag=a,0.1,1,HISTF", false), Sniffed::Log);
        for s in [
            "null",
            "42",
            "-1",
            "\"StartTimestamp\"",
            "true",
            "0.127,1.0,2.7,HISTF",
        ] {
            assert_eq!(sniff(s.as_bytes(), true), Sniffed::ScalarOrLog, "{s}");
        }
    }

    #[test]
    fn quoted_json_is_short() {
        assert_eq!(quote_json(&serde_json::Value::Null), "null");
        let long = serde_json::Value::String("x".repeat(500));
        assert!(quote_json(&long).len() < 70);
    }
}
