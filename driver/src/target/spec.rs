//! What HTTP, WebSocket and Redis requests ask for: the parts of [`super::RequestSpec`] that
//! only those protocols read, set from the target URL and the command line.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An HTTP request (http), or a WebSocket upgrade request's path and extra headers (ws).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpSpec {
    /// Request method.
    pub method: String,
    /// Path and query, from the target URL.
    pub path: String,
    /// `Host` header, from the target URL.
    pub host: String,
    /// Extra header lines (`Name: value`), sent as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// Request body (sent with a Content-Length).
    #[serde(
        default,
        rename = "body_base64",
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "to_base64",
        deserialize_with = "from_base64"
    )]
    pub body: Vec<u8>,
    /// Status codes counted as answers besides 2xx (`--accept`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept: Vec<u16>,
}

impl Default for HttpSpec {
    fn default() -> Self {
        HttpSpec {
            method: "GET".to_string(),
            path: "/".to_string(),
            host: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
            accept: Vec::new(),
        }
    }
}

impl HttpSpec {
    /// Whether nothing was set (reports of other protocols leave it out).
    pub fn is_default(&self) -> bool {
        *self == HttpSpec::default()
    }

    /// Whether a reply with this status answers the request: 2xx, or listed in `--accept`.
    pub fn accepts(&self, status: u16) -> bool {
        (200..300).contains(&status) || self.accept.contains(&status)
    }
}

fn to_base64<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
}

fn from_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(serde::de::Error::custom)
}

/// Parses `--accept`: status codes and classes, comma-separated (`404,3xx`).
pub fn parse_accept(s: &str) -> Result<Vec<u16>, String> {
    let mut codes = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let lower = part.to_ascii_lowercase();
        if let Some(class) = lower.strip_suffix("xx") {
            match class.parse::<u16>() {
                Ok(c @ 1..=5) if class.len() == 1 => codes.extend(c * 100..c * 100 + 100),
                _ => return Err(format!("`{part}` is not a status class (1xx .. 5xx)")),
            }
        } else {
            match part.parse::<u16>() {
                Ok(c @ 100..=599) => codes.push(c),
                _ => return Err(format!("`{part}` is not an HTTP status code (100 .. 599)")),
            }
        }
    }
    if codes.is_empty() {
        return Err("expected status codes, e.g. 404,3xx".to_string());
    }
    Ok(codes)
}

/// Parses a `--header` value: `Name: value`.
pub fn parse_header(s: &str) -> Result<String, String> {
    match s.split_once(':') {
        Some((name, value))
            if !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
                && !value.contains(['\r', '\n']) =>
        {
            Ok(format!("{name}: {}", value.trim()))
        }
        _ => Err(format!("`{s}` is not a header (expected `Name: value`)")),
    }
}

/// The type of WebSocket message sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WsMessage {
    /// Binary frames: the payload pattern (ids in the first bytes).
    #[default]
    Binary,
    /// Text frames: ASCII (the id in hex, then letters).
    Text,
}

nines_common::value_enum_display!(WsMessage);

impl WsMessage {
    /// Whether it is the default (reports of other protocols leave it out).
    pub fn is_default(&self) -> bool {
        *self == WsMessage::default()
    }
}

/// A Redis command template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedisSpec {
    /// The command, arguments separated by spaces (double quotes keep spaces in one); in each
    /// argument `__rand__` becomes a key number below `keyspace` and `__data__` becomes
    /// `--payload` bytes of data.
    pub command: String,
    /// Distinct key numbers `__rand__` takes.
    pub keyspace: u64,
    /// Bytes `__data__` stands for.
    pub data_bytes: usize,
}

impl Default for RedisSpec {
    fn default() -> Self {
        RedisSpec {
            command: crate::config::defaults::REDIS_COMMAND.to_string(),
            keyspace: crate::config::defaults::KEYSPACE,
            data_bytes: crate::config::defaults::PAYLOAD_BYTES,
        }
    }
}

/// Splits a command line into arguments: spaces separate, double quotes group, `\"` and `\\`
/// escape inside quotes.
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_arg = false;
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_arg = true;
            }
            '\\' if quoted => match chars.next() {
                Some(e @ ('"' | '\\')) => cur.push(e),
                Some(e) => {
                    cur.push('\\');
                    cur.push(e);
                }
                None => cur.push('\\'),
            },
            c if c.is_whitespace() && !quoted => {
                if in_arg {
                    args.push(std::mem::take(&mut cur));
                    in_arg = false;
                }
            }
            c => {
                cur.push(c);
                in_arg = true;
            }
        }
    }
    if quoted {
        return Err(format!("`{s}` has an unclosed double quote"));
    }
    if in_arg {
        args.push(cur);
    }
    if args.is_empty() {
        return Err("the command is empty (e.g. --command \"GET key:__rand__\")".to_string());
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lists_parse() {
        assert_eq!(parse_accept("404").unwrap(), vec![404]);
        assert_eq!(parse_accept("3xx,418").unwrap().len(), 101);
        assert!(parse_accept("6xx").is_err());
        assert!(parse_accept("abc").is_err());
        assert!(parse_accept("").is_err());
        let spec = HttpSpec {
            accept: vec![404],
            ..HttpSpec::default()
        };
        assert!(spec.accepts(204) && spec.accepts(404) && !spec.accepts(500));
    }

    #[test]
    fn headers_and_commands_parse() {
        assert_eq!(parse_header("X-A:  b ").unwrap(), "X-A: b");
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("A: b\r\nEvil: 1").is_err());
        assert_eq!(
            split_command(r#"SET "a key" "say \"hi\"" x"#).unwrap(),
            vec!["SET", "a key", "say \"hi\"", "x"]
        );
        assert_eq!(split_command("  PING ").unwrap(), vec!["PING"]);
        assert_eq!(split_command(r#"SET k """#).unwrap(), vec!["SET", "k", ""]);
        assert!(split_command("\"open").is_err());
        assert!(split_command("   ").is_err());
    }

    #[test]
    fn bodies_round_trip_as_base64() {
        let spec = HttpSpec {
            body: vec![0, 255, 10],
            ..HttpSpec::default()
        };
        let v = serde_json::to_value(&spec).unwrap();
        assert_eq!(v["body_base64"], "AP8K");
        assert_eq!(serde_json::from_value::<HttpSpec>(v).unwrap(), spec);
    }
}
