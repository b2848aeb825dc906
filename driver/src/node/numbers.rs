//! Numbers past a double's range (`1e400`, or an integer of 400 digits). serde_json refuses a
//! whole line for one such number, so a message that names its sender and `msg_id` plainly
//! would get no reply, and the harness would wait out its timeout. Such numbers are found in the
//! line (outside strings), replaced by a marked string, and the line read again, so the sender
//! hears which field was out of range.

use serde_json::Value;

/// What a number out of range becomes: a string no harness sends (it starts with NUL).
const MARK: &str = "\u{0}nines: out of range: ";

/// The line with every number too large for a double replaced by a marked JSON string, or None
/// when it holds none (or a number that is no number at all: that line is not JSON anyway).
pub(crate) fn mark_out_of_range(line: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(line.len() + 32);
    let (mut in_string, mut escaped, mut marked) = (false, false, false);
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if in_string {
            (in_string, escaped) = match (escaped, b) {
                (true, _) => (true, false),
                (false, b'\\') => (true, true),
                (false, b'"') => (false, false),
                _ => (true, false),
            };
        } else if b == b'"' {
            in_string = true;
        } else if b == b'-' || b.is_ascii_digit() {
            let len = line[i..]
                .iter()
                .take_while(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .count();
            let token = &line[i..i + len];
            let infinite = std::str::from_utf8(token)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(f64::is_infinite);
            if infinite {
                out.extend_from_slice(b"\"\\u0000");
                out.extend_from_slice(&MARK.as_bytes()[1..]);
                out.extend_from_slice(token);
                out.push(b'"');
                marked = true;
            } else {
                out.extend_from_slice(token);
            }
            i += len;
            continue;
        }
        out.push(b);
        i += 1;
    }
    marked.then_some(out)
}

/// The first marked number in `v`: where it is (`body.num_requests`, `body.levels[2]`) and as
/// it was written, each cut to [`QUOTE_CHARS`] (keys and digits are the sender's, of any length).
pub(crate) fn find_marked(v: &Value) -> Option<(String, String)> {
    let (path, n) = marked(v)?;
    let path = path.strip_prefix('.').unwrap_or(&path);
    Some((short(path), short(&n)))
}

/// Characters of a key path or a number quoted in a reply.
pub(crate) const QUOTE_CHARS: usize = 60;

fn marked(v: &Value) -> Option<(String, String)> {
    match v {
        Value::String(s) => s.strip_prefix(MARK).map(|n| (String::new(), n.to_string())),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| marked(x).map(|(path, n)| (format!("[{i}]{path}"), n))),
        Value::Object(map) => map
            .iter()
            .find_map(|(k, x)| marked(x).map(|(path, n)| (format!(".{k}{path}"), n))),
        _ => None,
    }
}

fn short(s: &str) -> String {
    match s.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_past_a_double_are_marked_and_found() {
        let line = br#"{"a":"1e400 \"2e999","b":[1,-1e400],"c":{"d":1e400},"e":1e308,"f":1e-400}"#;
        assert!(serde_json::from_slice::<Value>(line).is_err());
        let marked = mark_out_of_range(line).unwrap();
        let v: Value = serde_json::from_slice(&marked).unwrap();
        assert_eq!(v["a"], "1e400 \"2e999", "strings are left alone");
        assert_eq!(v["e"], 1e308);
        assert_eq!(v["f"], 0.0, "underflow is zero, as serde_json reads it");
        let (path, n) = find_marked(&v).unwrap();
        assert_eq!((path.as_str(), n.as_str()), ("b[1]", "-1e400"));
        let big = format!("{{\"n\":{}}}", "9".repeat(400));
        let v: Value = serde_json::from_slice(&mark_out_of_range(big.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            find_marked(&v).unwrap().1,
            format!("{}...", "9".repeat(QUOTE_CHARS))
        );
        assert!(mark_out_of_range(br#"{"n":1e300,"s":"1e400"}"#).is_none());
        assert!(find_marked(&serde_json::json!({"s": "\u{0}other"})).is_none());
    }
}
