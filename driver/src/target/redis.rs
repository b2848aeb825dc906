//! Redis RESP2 as a client: one command template (`SET key:__rand__ __data__`), encoded per
//! request with a key number derived from the request id, and replies parsed and type-checked
//! in order. Error replies (`-ERR ...`, `-WRONGTYPE ...`) are rejected requests, counted by
//! their first word.
//!
//! A reply is parsed as it arrives: a bulk string is counted down, not held, and nested arrays
//! are walked with a fixed stack of element counts, so only one line is ever held whole (64 KiB
//! at most, Redis' own limit on an inline request) however large the reply. A reply taken
//! across reads is counted against `--max-response` (`response_too_large`), and an array
//! announcing more elements than hiredis takes is refused from its first line
//! (`too_many_elements`): neither waits for the timeout.

use super::counted::Counted;
use super::{Codec, CodecError, Decoded, ReplyKind, Response, Sent, Verdict};
use crate::config::{split_command, RedisRequest, RequestSpec};
use crate::errors::ErrorKind;

/// Digits a `__rand__` key number is padded to (as redis-benchmark's `__rand_int__`), so every
/// request of a template has the same length.
const KEY_DIGITS: usize = 12;
/// Deepest nesting of arrays accepted in a reply.
const MAX_DEPTH: usize = 32;
/// Most elements an array may announce: hiredis' limit (REDIS_READER_MAX_ARRAY_ELEMENTS),
/// which Redis' own clients share; Redis itself never sends an array near it.
const MAX_ARRAY_ELEMENTS: i64 = (1 << 32) - 1;
/// Longest line accepted (type byte to CRLF): the largest unit held whole.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// One argument of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Vec<u8>),
    /// Text before and after one `__rand__`.
    Rand(Vec<u8>, Vec<u8>),
    /// Text before and after one `__data__` whose size is drawn per request.
    Data(Vec<u8>, Vec<u8>),
}

/// One line's command: its arguments, and the reply types that answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template {
    parts: Vec<Part>,
    expect: &'static [RespType],
}

impl Template {
    /// `spec`'s command (validated before the run; an empty or unparsable one sends PING).
    fn new(spec: &RedisRequest) -> Template {
        let args = split_command(&spec.command).unwrap_or_else(|_| vec!["PING".to_string()]);
        // A fixed `__data__` is written into the template once; a drawn one per request.
        let data = spec.data_bytes.fixed().map(|n| vec![b'x'; n]);
        let parts: Vec<Part> = args
            .iter()
            .map(|a| {
                let a = a.replace("__rand_int__", "__rand__");
                let bytes = match &data {
                    Some(d) => replace_bytes(a.as_bytes(), b"__data__", d),
                    None => a.into_bytes(),
                };
                match (find(&bytes, b"__rand__"), find(&bytes, b"__data__")) {
                    (Some(at), _) => Part::Rand(bytes[..at].to_vec(), bytes[at + 8..].to_vec()),
                    (None, Some(at)) => Part::Data(bytes[..at].to_vec(), bytes[at + 8..].to_vec()),
                    (None, None) => Part::Literal(bytes),
                }
            })
            .collect();
        Template {
            expect: expected_types(&args[0]),
            parts,
        }
    }
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

/// Where the reply being read stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reading {
    /// The reply's type, once its first line is in.
    ty: Option<RespType>,
    /// Elements still to come in each array open, outermost first.
    open: [u64; MAX_DEPTH],
    depth: usize,
    /// A bulk string still arriving.
    bulk: Option<Counted>,
    /// Bytes of the reply taken in earlier calls (0 while it is read in one).
    taken: u64,
}

impl Reading {
    const START: Reading = Reading {
        ty: None,
        open: [0; MAX_DEPTH],
        depth: 0,
        bulk: None,
        taken: 0,
    };

    /// A value is complete: counts it in the arrays open, closing those it completes. True
    /// when that completes the reply.
    fn value_done(&mut self) -> bool {
        while let Some(last) = self.depth.checked_sub(1) {
            self.open[last] -= 1;
            if self.open[last] > 0 {
                return false;
            }
            self.depth = last;
        }
        true
    }
}

/// What follows a value's first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Nothing: the value is complete.
    Done,
    /// A bulk string of this many bytes.
    Bulk(u64),
    /// This many elements.
    Array(u64),
}

/// Codec for Redis (and anything that speaks RESP2).
#[derive(Debug)]
pub struct RedisCodec {
    /// Each line's command.
    lines: Vec<Template>,
    keyspace: u64,
    /// The largest reply taken (`--max-response`).
    max_reply_bytes: u64,
    reading: Reading,
}

impl RedisCodec {
    /// A codec sending the commands of `lines` (Redis requests, sharing the first's keyspace
    /// and bound).
    pub fn new(lines: &[&RequestSpec]) -> RedisCodec {
        let redis: Vec<&RedisRequest> = lines
            .iter()
            .filter_map(|l| match l {
                RequestSpec::Redis(r) => Some(r),
                _ => None,
            })
            .collect();
        let first = redis.first().copied().cloned().unwrap_or_default();
        RedisCodec {
            lines: redis.iter().map(|r| Template::new(r)).collect(),
            keyspace: first.keyspace.max(1),
            max_reply_bytes: first.max_response_bytes,
            reading: Reading::START,
        }
    }

    fn template(&self, req: &Sent) -> &Template {
        let i = usize::from(req.pick.line);
        &self.lines[i.min(self.lines.len() - 1)]
    }

    /// What a reply of type `ty` says about its request; `whole` is the reply, if it is one
    /// line (an error).
    fn judge(expect: &[RespType], ty: RespType, whole: &[u8]) -> (Verdict, ReplyKind) {
        if ty == RespType::Error {
            // The first word names the error (ERR, WRONGTYPE, NOAUTH, OOM, ...).
            let line = whole.get(1..whole.len().saturating_sub(2)).unwrap_or(&[]);
            let word = line.split(|&b| b == b' ').next().unwrap_or(&[]);
            let word = String::from_utf8_lossy(word);
            (Verdict::Rejected, ReplyKind::new(&format!("error {word}")))
        } else if expect.is_empty() || expect.contains(&ty) {
            (Verdict::Ok, ReplyKind::new(ty.name()))
        } else {
            (Verdict::WrongContent, ReplyKind::new(ty.name()))
        }
    }

    /// Parses the reply at the front of `buf` from where the last call left it: how many bytes
    /// it took, and whether they completed the reply.
    fn parse(&mut self, buf: &[u8]) -> Result<(usize, bool), CodecError> {
        let mut at = 0;
        loop {
            if let Some(mut bulk) = self.reading.bulk {
                at += bulk.take(&buf[at..]).map_err(|_| {
                    CodecError::new("resp_bulk", "bulk string not followed by CRLF")
                })?;
                if !bulk.done() {
                    self.reading.bulk = Some(bulk);
                    return Ok((at, false));
                }
                self.reading.bulk = None;
                if self.reading.value_done() {
                    return Ok((at, true));
                }
                continue;
            }
            let rest = &buf[at..];
            let Some((tag, line)) = next_line(rest)? else {
                return Ok((at, false));
            };
            at += line.len() + 3;
            let (ty, next) = match tag {
                b'+' => (RespType::Simple, Next::Done),
                b'-' => (RespType::Error, Next::Done),
                b':' => {
                    int(line)?;
                    (RespType::Integer, Next::Done)
                }
                b'$' => match int(line)? {
                    -1 => (RespType::Nil, Next::Done),
                    // Any length: it is counted down, and against the bound once taken in parts.
                    n if n >= 0 => (RespType::Bulk, Next::Bulk(n as u64)),
                    n => return Err(CodecError::new("resp_bulk", format!("bulk length {n}"))),
                },
                b'*' => match int(line)? {
                    -1 => (RespType::Nil, Next::Done),
                    n if n >= 0 && self.reading.depth >= MAX_DEPTH => {
                        return Err(CodecError::new("resp_nesting", "arrays nested too deep"))
                    }
                    0 => (RespType::Array, Next::Done),
                    n if n > MAX_ARRAY_ELEMENTS => {
                        return Err(CodecError::over(
                            ErrorKind::TooManyElements,
                            format!(
                                "an array announcing {n} elements, past the {MAX_ARRAY_ELEMENTS} \
                                 a Redis client takes"
                            ),
                        ))
                    }
                    n if n > 0 => (RespType::Array, Next::Array(n as u64)),
                    n => return Err(CodecError::new("resp_array", format!("array length {n}"))),
                },
                _ => unreachable!("next_line checks the type byte"),
            };
            // The type of the reply is its first value's.
            self.reading.ty.get_or_insert(ty);
            match next {
                Next::Done => {}
                Next::Bulk(len) => {
                    self.reading.bulk = Some(Counted::then_crlf(len));
                    continue;
                }
                Next::Array(n) => {
                    self.reading.open[self.reading.depth] = n;
                    self.reading.depth += 1;
                    continue;
                }
            }
            if self.reading.value_done() {
                return Ok((at, true));
            }
        }
    }
}

impl Codec for RedisCodec {
    fn replies_carry_ids(&self) -> bool {
        false
    }

    fn max_buffered(&self) -> usize {
        MAX_LINE_BYTES
    }

    fn start(&mut self, _out: &mut Vec<u8>) -> bool {
        // A new connection starts at a reply's first line, whatever the last one was doing.
        self.reading = Reading::START;
        false
    }

    fn encode_request(&mut self, req: &Sent, out: &mut Vec<u8>) {
        let key = mix(req.id) % self.keyspace;
        let parts = &self.template(req).parts;
        out.push(b'*');
        push_int(out, parts.len() as u64);
        out.extend_from_slice(b"\r\n");
        for p in parts {
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
                Part::Data(pre, post) => {
                    let n = req.pick.size as usize;
                    push_int(out, (pre.len() + n + post.len()) as u64);
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(pre);
                    out.resize(out.len() + n, b'x');
                    out.extend_from_slice(post);
                }
            }
            out.extend_from_slice(b"\r\n");
        }
    }

    fn decode(
        &mut self,
        buf: &[u8],
        oldest: Option<Sent>,
        _out: &mut Vec<u8>,
    ) -> Result<Option<Decoded>, CodecError> {
        let (used, done) = match self.parse(buf) {
            Ok(x) => x,
            Err(e) => {
                self.reading = Reading::START;
                return Err(e);
            }
        };
        if !done || self.reading.taken > 0 {
            // Taken across reads, so counted against the bound: a reply that completes in the
            // read that began it is smaller than any bound (validation's MIN_RESPONSE_BYTES).
            let taken = self.reading.taken + used as u64;
            let at_least = taken.saturating_add(self.reading.bulk.map_or(0, |b| b.left()));
            if at_least > self.max_reply_bytes {
                self.reading = Reading::START;
                return Err(CodecError::too_large(
                    format_args!("a RESP reply of {at_least} bytes or more"),
                    self.max_reply_bytes,
                ));
            }
            if !done {
                self.reading.taken = taken;
                return Ok((used > 0).then_some(Decoded::Partial(used)));
            }
            self.reading.taken = 0;
        }
        // A complete reply leaves no array open and no bulk string: its type is all there is
        // to clear. It was set by the reply's first line, which a complete reply has. An error
        // is one line, so it is whole in this call (a reply is only taken in parts between
        // its lines).
        let ty = self.reading.ty.take().unwrap_or(RespType::Error);
        let expect = oldest.map_or(&[][..], |o| self.template(&o).expect);
        let (verdict, kind) = Self::judge(expect, ty, &buf[..used]);
        Ok(Some(Decoded::Reply(Response {
            kind: Some(kind),
            ..Response::new(used, oldest.map_or(u64::MAX, |o| o.id), verdict)
        })))
    }
}

/// The line at the front of `buf`: its type byte and what is between that and its CRLF, or
/// `None` if its end has not come.
fn next_line(buf: &[u8]) -> Result<Option<(u8, &[u8])>, CodecError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    if !matches!(tag, b'+' | b'-' | b':' | b'$' | b'*') {
        return Err(CodecError::new(
            "resp_type",
            format!("reply starts with byte {tag:#04x}, not a RESP type"),
        ));
    }
    // The line must end within its first MAX_LINE_BYTES, however the bytes were cut.
    let window = &buf[..buf.len().min(MAX_LINE_BYTES)];
    match find(&window[1..], b"\r\n") {
        Some(eol) => Ok(Some((tag, &buf[1..eol + 1]))),
        None if buf.len() < MAX_LINE_BYTES => Ok(None),
        None => Err(CodecError::new(
            "resp_line_too_long",
            format!("a RESP line that does not end within {MAX_LINE_BYTES} bytes"),
        )),
    }
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
mod tests;
