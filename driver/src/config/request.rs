//! What each request is: one value per protocol, each holding only what that protocol reads.
//!
//! A nines request is an op with its own argument (an echo has a payload, a Work request a CPU
//! time, a Stats request nothing); an HTTP request a method, path, headers, body and the
//! statuses it accepts; a WebSocket request the upgrade and the messages; a Redis request a
//! command template. Which command-line flags fit which protocol is decided where the flags are
//! read (the binary's edge): here a value cannot hold a flag its protocol ignores. A mix of
//! requests is a weighted list of these values ([`super::Requests`]); a payload size may be
//! drawn per request ([`Payload`]).

use nines_protocol::{Op, HEADER_LEN};
use serde::{Deserialize, Serialize};

use super::{defaults, Body, HttpRequest, Payload, Protocol, Resource};

/// One request, per protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "snake_case")]
pub enum RequestSpec {
    /// A nines frame to nines-server.
    Nines(NinesOp),
    /// Plain bytes to any byte-echo server, expected back.
    Echo {
        /// Bytes per request (at least 1: an empty request gets no reply).
        payload_bytes: Payload,
    },
    /// An HTTP/1.1 request.
    Http(HttpRequest),
    /// WebSocket messages to an echo service, after an upgrade.
    Ws(WsRequest),
    /// A Redis command.
    Redis(RedisRequest),
}

/// A nines op with what it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum NinesOp {
    /// The payload back.
    Echo {
        /// Request payload bytes.
        payload_bytes: Payload,
    },
    /// CPU work on the server.
    Work {
        /// CPU microseconds asked for.
        work_us: u32,
    },
    /// A reply of this many bytes.
    Source {
        /// Reply payload bytes asked for.
        reply_bytes: Payload,
    },
    /// The server's counters.
    Stats,
}

impl NinesOp {
    /// The op on the wire.
    pub fn op(&self) -> Op {
        match self {
            NinesOp::Echo { .. } => Op::Echo,
            NinesOp::Work { .. } => Op::Work,
            NinesOp::Source { .. } => Op::Source,
            NinesOp::Stats => Op::Stats,
        }
    }
}

/// WebSocket messages sent after an upgrade, each expected back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsRequest {
    /// Where the upgrade goes, and the extra headers it carries.
    #[serde(flatten)]
    pub resource: Resource,
    /// Message type.
    pub message: WsMessage,
    /// Bytes per message.
    pub payload_bytes: Payload,
    /// Largest response taken (`--max-response`); past it, `response_too_large`.
    #[serde(default = "defaults::max_response_bytes")]
    pub max_response_bytes: u64,
}

impl Default for WsRequest {
    fn default() -> Self {
        WsRequest {
            resource: Resource::default(),
            message: WsMessage::default(),
            payload_bytes: Payload::default(),
            max_response_bytes: defaults::MAX_RESPONSE_BYTES,
        }
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

/// A Redis command template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedisRequest {
    /// The command, arguments separated by spaces (double quotes keep spaces in one); in each
    /// argument `__rand__` becomes a key number below `keyspace` and `__data__` becomes
    /// `data_bytes` bytes of data. Checked by [`split_command`] before a run.
    pub command: String,
    /// Distinct key numbers `__rand__` takes (at least 1).
    pub keyspace: u64,
    /// Bytes `__data__` stands for.
    pub data_bytes: Payload,
    /// Largest response taken (`--max-response`); past it, `response_too_large`.
    #[serde(default = "defaults::max_response_bytes")]
    pub max_response_bytes: u64,
}

impl Default for RedisRequest {
    fn default() -> Self {
        RedisRequest {
            command: defaults::REDIS_COMMAND.to_string(),
            keyspace: defaults::KEYSPACE,
            data_bytes: Payload::default(),
            max_response_bytes: defaults::MAX_RESPONSE_BYTES,
        }
    }
}

impl Default for RequestSpec {
    /// `nines bench`'s default: 64-byte nines echo.
    fn default() -> Self {
        RequestSpec::Nines(NinesOp::Echo {
            payload_bytes: Payload::default(),
        })
    }
}

impl RequestSpec {
    /// The protocol it is spoken in.
    pub fn protocol(&self) -> Protocol {
        match self {
            RequestSpec::Nines(_) => Protocol::Nines,
            RequestSpec::Echo { .. } => Protocol::Echo,
            RequestSpec::Http(_) => Protocol::Http,
            RequestSpec::Ws(_) => Protocol::Ws,
            RequestSpec::Redis(_) => Protocol::Redis,
        }
    }

    /// What each request asks for, in words (`nines echo 64 B`, `nines work 10 µs`, `64 B echo`).
    pub fn describe(&self) -> String {
        match self {
            RequestSpec::Nines(NinesOp::Echo { payload_bytes }) => {
                format!("nines echo {}", payload_bytes.describe())
            }
            RequestSpec::Nines(NinesOp::Work { work_us }) => format!("nines work {work_us} µs"),
            RequestSpec::Nines(NinesOp::Source { reply_bytes }) => {
                format!("nines source {}", reply_bytes.describe())
            }
            RequestSpec::Nines(NinesOp::Stats) => "nines stats".to_string(),
            RequestSpec::Echo { payload_bytes } => format!("{} echo", payload_bytes.describe()),
            RequestSpec::Http(h) => match &h.body {
                Body::Sized(p) => format!(
                    "HTTP {} {} ({} body)",
                    h.method,
                    h.resource.path,
                    p.describe()
                ),
                _ => format!("HTTP {} {}", h.method, h.resource.path),
            },
            RequestSpec::Ws(w) => format!("WebSocket {} {}", w.message, w.payload_bytes.describe()),
            RequestSpec::Redis(r) => match self.payload() {
                Some(p) if p.fixed().is_none() => {
                    format!("Redis {} (__data__ {})", r.command, p.describe())
                }
                _ => format!("Redis {}", r.command),
            },
        }
    }

    /// How the target is named in a report: `http://ADDR/path`, `ws://ADDR/path`,
    /// `redis://ADDR`, or the address alone for nines and echo.
    pub fn target_name(&self, addr: std::net::SocketAddr) -> String {
        match self {
            RequestSpec::Http(h) => format!("http://{addr}{}", h.resource.path),
            RequestSpec::Ws(w) => format!("ws://{addr}{}", w.resource.path),
            RequestSpec::Redis(_) => format!("redis://{addr}"),
            RequestSpec::Nines(_) | RequestSpec::Echo { .. } => addr.to_string(),
        }
    }

    /// The largest response taken, for the protocols whose responses are streamed (HTTP,
    /// WebSocket, Redis); nines and echo replies are held whole, bounded by their frame.
    pub fn max_response_bytes(&self) -> Option<u64> {
        match self {
            RequestSpec::Http(h) => Some(h.max_response_bytes),
            RequestSpec::Ws(w) => Some(w.max_response_bytes),
            RequestSpec::Redis(r) => Some(r.max_response_bytes),
            RequestSpec::Nines(_) | RequestSpec::Echo { .. } => None,
        }
    }

    /// Bytes one request takes on the wire (at most, for templates): what bounds the bytes in
    /// flight.
    pub fn wire_bytes(&self) -> u64 {
        let most = self.payload().map_or(0, Payload::max);
        let n = match self {
            RequestSpec::Nines(NinesOp::Echo { .. }) => most + HEADER_LEN,
            RequestSpec::Nines(_) => HEADER_LEN,
            RequestSpec::Echo { .. } => most,
            RequestSpec::Http(h) => h.render(most).len(),
            // The frame header is at most 14 bytes.
            RequestSpec::Ws(_) => most + 14,
            // Each argument: `$LEN\r\n...\r\n`; `__data__` may stand for many bytes.
            RequestSpec::Redis(r) => {
                r.command.len() + 32 * (r.command.split(' ').count() + 1) + r.data_bytes.max()
            }
        };
        n as u64
    }

    /// The payload sizes a request of this kind sends, where it sends one whose size is its
    /// own: a nines echo's payload (a source's reply), an echo, a WebSocket message, a Redis
    /// command's `__data__`, an HTTP body whose size is drawn.
    pub fn payload(&self) -> Option<&Payload> {
        match self {
            RequestSpec::Nines(NinesOp::Echo { payload_bytes }) => Some(payload_bytes),
            RequestSpec::Nines(NinesOp::Source { reply_bytes }) => Some(reply_bytes),
            RequestSpec::Nines(_) => None,
            RequestSpec::Echo { payload_bytes } => Some(payload_bytes),
            RequestSpec::Http(h) => match &h.body {
                Body::Sized(p) => Some(p),
                Body::None | Body::Bytes(_) => None,
            },
            RequestSpec::Ws(w) => Some(&w.payload_bytes),
            RequestSpec::Redis(r) => r.command.contains("__data__").then_some(&r.data_bytes),
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
    fn commands_split_into_arguments() {
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
    fn requests_render_once_and_describe_themselves() {
        let h = HttpRequest {
            method: "POST".into(),
            resource: Resource {
                host: "example:80".into(),
                headers: vec!["X-A: 1".into()],
                ..Resource::default()
            },
            body: Body::Bytes(b"hi".to_vec()),
            ..HttpRequest::default()
        };
        assert_eq!(
            h.render(0),
            b"POST / HTTP/1.1\r\nHost: example:80\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nhi"
        );
        let cases = [
            (RequestSpec::default(), "nines echo 64 B", Protocol::Nines),
            (
                RequestSpec::Nines(NinesOp::Work { work_us: 10 }),
                "nines work 10 µs",
                Protocol::Nines,
            ),
            (
                RequestSpec::Echo {
                    payload_bytes: 8.into(),
                },
                "8 B echo",
                Protocol::Echo,
            ),
            (RequestSpec::Http(h), "HTTP POST /", Protocol::Http),
            (
                RequestSpec::Ws(WsRequest::default()),
                "WebSocket binary 64 B",
                Protocol::Ws,
            ),
            (
                RequestSpec::Redis(RedisRequest::default()),
                "Redis PING",
                Protocol::Redis,
            ),
        ];
        for (spec, words, protocol) in cases {
            assert_eq!(
                (spec.describe().as_str(), spec.protocol()),
                (words, protocol)
            );
            let json = serde_json::to_value(&spec).unwrap();
            assert_eq!(json["protocol"], protocol.to_string());
            assert_eq!(serde_json::from_value::<RequestSpec>(json).unwrap(), spec);
        }
    }

    #[test]
    fn bodies_round_trip_as_base64() {
        let spec = RequestSpec::Http(HttpRequest {
            body: Body::Bytes(vec![0, 255, 10]),
            ..HttpRequest::default()
        });
        let v = serde_json::to_value(&spec).unwrap();
        assert_eq!(v["body_base64"], "AP8K");
        assert_eq!(v["path"], "/");
        assert_eq!(serde_json::from_value::<RequestSpec>(v).unwrap(), spec);
    }
}
