//! Redis RESP2 as a client: one command template (`SET key:__rand__ __data__`), encoded per
//! request with a key number derived from the request id, and replies parsed and type-checked
//! in order. Error replies (`-ERR ...`, `-WRONGTYPE ...`) are rejected requests, counted by
//! their first word.

use super::{Codec, CodecError, Decoded, ReplyKind, Response, Verdict};
use crate::config::{split_command, RedisRequest};

/// Digits a `__rand__` key number is padded to (as redis-benchmark's `__rand_int__`), so every
/// request of a template has the same length.
const KEY_DIGITS: usize = 12;
/// Deepest nesting of arrays accepted in a reply.
const MAX_DEPTH: usize = 32;
/// Longest bulk string or simple line accepted (Redis' own proto-max-bulk-len is 512 MB).
const MAX_BULK_BYTES: i64 = 512 << 20;

/// One argument of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Vec<u8>),
    /// Text before and after one `__rand__`.
    Rand(Vec<u8>, Vec<u8>),
}

/// The type of a RESP reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RespType {
    Simple,
    Error,
    Integer,
    Bulk,
    Nil,
    Array,
}

impl RespType {
    fn name(self) -> &'static str {
        match self {
            RespType::Simple => "status",
            RespType::Error => "error",
            RespType::Integer => "integer",
            RespType::Bulk => "bulk",
            RespType::Nil => "nil",
            RespType::Array => "array",
        }
    }
}

/// Codec for Redis (and anything that speaks RESP2).
#[derive(Debug)]
pub struct RedisCodec {
    parts: Vec<Part>,
    keyspace: u64,
    expect: &'static [RespType],
}

impl RedisCodec {
    /// A codec sending `spec.command` (validated before the run; an empty or unparsable
    /// command here sends PING).
    pub fn new(spec: &RedisRequest) -> RedisCodec {
        let args = split_command(&spec.command).unwrap_or_else(|_| vec!["PING".to_string()]);
        let data = vec![b'x'; spec.data_bytes];
        let parts: Vec<Part> = args
            .iter()
            .map(|a| {
                let a = a.replace("__rand_int__", "__rand__");
                let bytes = replace_bytes(a.as_bytes(), b"__data__", &data);
                match find(&bytes, b"__rand__") {
                    Some(at) => Part::Rand(bytes[..at].to_vec(), bytes[at + 8..].to_vec()),
                    None => Part::Literal(bytes),
                }
            })
            .collect();
        RedisCodec {
            expect: expected_types(&args[0]),
            parts,
            keyspace: spec.keyspace.max(1),
        }
    }
}

impl Codec for RedisCodec {
    fn replies_carry_ids(&self) -> bool {
        false
    }

    fn encode_request(&mut self, id: u64, _intended_ns: u64, out: &mut Vec<u8>) {
        let key = mix(id) % self.keyspace;
        out.push(b'*');
        push_int(out, self.parts.len() as u64);
        out.extend_from_slice(b"\r\n");
        for p in &self.parts {
            out.push(b'$');
            match p {
                Part::Literal(b) => {
                    push_int(out, b.len() as u64);
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(b);
                }
                Part::Rand(pre, post) => {
                    push_int(out, (pre.len() + KEY_DIGITS + post.len()) as u64);
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(pre);
                    push_padded(out, key);
                    out.extend_from_slice(post);
                }
            }
            out.extend_from_slice(b"\r\n");
        }
    }

    fn decode(
        &mut self,
        buf: &[u8],
        oldest: Option<u64>,
        _out: &mut Vec<u8>,
    ) -> Result<Option<Decoded>, CodecError> {
        let Some((ty, consumed)) = parse(buf, 0)? else {
            return Ok(None);
        };
        let (verdict, kind) = if ty == RespType::Error {
            // The first word names the error (ERR, WRONGTYPE, NOAUTH, OOM, ...).
            let line = &buf[1..consumed - 2];
            let word = line.split(|&b| b == b' ').next().unwrap_or(&[]);
            let word = String::from_utf8_lossy(word);
            (Verdict::Rejected, ReplyKind::new(&format!("error {word}")))
        } else if self.expect.is_empty() || self.expect.contains(&ty) {
            (Verdict::Ok, ReplyKind::new(ty.name()))
        } else {
            (Verdict::WrongContent, ReplyKind::new(ty.name()))
        };
        Ok(Some(Decoded::Reply(Response {
            kind: Some(kind),
            ..Response::new(consumed, oldest.unwrap_or(u64::MAX), verdict)
        })))
    }
}

/// Parses one RESP2 value at the front of `buf`: its type and length, or `None` if incomplete.
pub(crate) fn parse(buf: &[u8], depth: usize) -> Result<Option<(RespType, usize)>, CodecError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    if !matches!(tag, b'+' | b'-' | b':' | b'$' | b'*') {
        return Err(CodecError::new(
            "resp_type",
            format!("reply starts with byte {tag:#04x}, not a RESP type"),
        ));
    }
    // The line after the type byte.
    let Some(eol) = find(&buf[1..], b"\r\n").map(|e| e + 1) else {
        if buf.len() as i64 > MAX_BULK_BYTES {
            return Err(CodecError::new("resp_line", "a RESP line with no end"));
        }
        return Ok(None);
    };
    let line = &buf[1..eol];
    let after = eol + 2;
    Ok(Some(match tag {
        b'+' => (RespType::Simple, after),
        b'-' => (RespType::Error, after),
        b':' => {
            int(line)?;
            (RespType::Integer, after)
        }
        b'$' => match int(line)? {
            -1 => (RespType::Nil, after),
            n @ 0..=MAX_BULK_BYTES => {
                let end = after + n as usize;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(CodecError::new(
                        "resp_bulk",
                        "bulk string not followed by CRLF",
                    ));
                }
                (RespType::Bulk, end + 2)
            }
            n => return Err(CodecError::new("resp_bulk", format!("bulk length {n}"))),
        },
        b'*' => match int(line)? {
            -1 => (RespType::Nil, after),
            n if n >= 0 => {
                if depth >= MAX_DEPTH {
                    return Err(CodecError::new("resp_nesting", "arrays nested too deep"));
                }
                let mut at = after;
                for _ in 0..n {
                    match parse(&buf[at..], depth + 1)? {
                        Some((_, len)) => at += len,
                        None => return Ok(None),
                    }
                }
                (RespType::Array, at)
            }
            n => return Err(CodecError::new("resp_array", format!("array length {n}"))),
        },
        _ => unreachable!("checked above"),
    }))
}

fn int(line: &[u8]) -> Result<i64, CodecError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| CodecError::new("resp_integer", "a RESP length or integer that is not one"))
}

/// The reply types a command can answer with (empty: any but an error).
fn expected_types(command: &str) -> &'static [RespType] {
    use RespType::{Array, Bulk, Integer, Nil, Simple};
    match command.to_ascii_uppercase().as_str() {
        "PING" | "ECHO" => &[Simple, Bulk],
        "SET" => &[Simple, Nil, Bulk],
        "MSET" | "SELECT" | "FLUSHALL" | "FLUSHDB" | "SETEX" | "PSETEX" | "HMSET" => &[Simple],
        "GET" | "GETSET" | "GETDEL" | "LPOP" | "RPOP" | "SPOP" | "HGET" | "LINDEX" => &[Bulk, Nil],
        "INCR" | "DECR" | "INCRBY" | "DECRBY" | "LPUSH" | "RPUSH" | "SADD" | "SREM" | "HSET"
        | "HDEL" | "DEL" | "EXISTS" | "ZADD" | "LLEN" | "SCARD" | "HINCRBY" | "EXPIRE" | "TTL"
        | "STRLEN" | "APPEND" | "PUBLISH" | "SETNX" | "HLEN" | "ZCARD" | "PFADD" => &[Integer],
        "LRANGE" | "MGET" | "KEYS" | "SMEMBERS" | "HGETALL" | "ZRANGE" | "HMGET" => &[Array],
        _ => &[],
    }
}

/// Spreads request ids over the keyspace (splitmix64's finaliser).
fn mix(id: u64) -> u64 {
    let mut z = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn push_int(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push_padded(out: &mut Vec<u8>, n: u64) {
    let mut buf = [b'0'; KEY_DIGITS];
    let mut n = n;
    for b in buf.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&buf);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut rest = hay;
    while let Some(at) = find(rest, from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(command: &str) -> RedisCodec {
        RedisCodec::new(&RedisRequest {
            command: command.into(),
            keyspace: 10,
            data_bytes: 3,
        })
    }

    fn decoded(c: &mut RedisCodec, b: &[u8]) -> Response {
        match c.decode(b, Some(4), &mut Vec::new()) {
            Ok(Some(Decoded::Reply(r))) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn commands_encode_as_resp_arrays_with_keys_and_data() {
        let mut c = codec("SET key:__rand__ __data__");
        let mut out = Vec::new();
        c.encode_request(1, 0, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.starts_with("*3\r\n$3\r\nSET\r\n$16\r\nkey:0000000000"),
            "{s}"
        );
        assert!(s.ends_with("\r\n$3\r\nxxx\r\n"), "{s}");
        assert_eq!(
            parse(s.as_bytes(), 0).unwrap(),
            Some((RespType::Array, s.len()))
        );
    }

    #[test]
    fn replies_are_typed_checked_and_errors_named() {
        let mut get = codec("GET k");
        let r = decoded(&mut get, b"$3\r\nabc\r\n");
        assert_eq!((r.verdict, r.consumed, r.id), (Verdict::Ok, 9, 4));
        assert_eq!(decoded(&mut get, b"$-1\r\n").kind.unwrap().as_str(), "nil");
        assert_eq!(decoded(&mut get, b":1\r\n").verdict, Verdict::WrongContent);
        let e = decoded(&mut get, b"-WRONGTYPE Operation against a key\r\n");
        assert_eq!(
            (e.verdict, e.kind.unwrap().as_str()),
            (Verdict::Rejected, "error WRONGTYPE")
        );
        assert_eq!(get.decode(b"$3\r\nab", Some(1), &mut Vec::new()), Ok(None));
        let nested = b"*2\r\n*1\r\n:1\r\n$1\r\na\r\n";
        assert_eq!(
            parse(nested, 0).unwrap(),
            Some((RespType::Array, nested.len()))
        );
    }

    #[test]
    fn malformed_replies_are_errors_by_kind() {
        let kind = |b: &[u8]| {
            codec("GET k")
                .decode(b, Some(1), &mut Vec::new())
                .unwrap_err()
                .kind
        };
        assert_eq!(kind(b"HTTP/1.1 200 OK\r\n"), "resp_type");
        assert_eq!(kind(b"$abc\r\n"), "resp_integer");
        assert_eq!(kind(b"$-5\r\n"), "resp_bulk");
        assert_eq!(kind(b"$1\r\nabc\r\n"), "resp_bulk");
        assert_eq!(kind(&b"*1\r\n".repeat(40)), "resp_nesting");
        // Regression (proptest): a reply that starts with CRLF.
        assert_eq!(kind(b"\r\n"), "resp_type");
    }
}
