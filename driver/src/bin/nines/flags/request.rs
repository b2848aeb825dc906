//! What each request is: the protocol (from `--protocol` or the target URL's scheme, which must
//! agree) and the flags that protocol reads. A flag its protocol does not read is refused here,
//! at the edge, with what it is for — so the library's request values can never hold one.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Args;
use nines_common::units::ByteCount;
use nines_common::usage::UsageError;
use nines_driver::config::{
    defaults, parse_accept, parse_header, parse_method, HttpRequest, NinesOp, Protocol,
    RedisRequest, RequestSpec, Resource, WsMessage, WsRequest,
};
use nines_driver::target::url;
use nines_protocol::Op;

use super::with_default;

/// What each request is.
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Requests (each flag applies to the protocols it names)")]
pub struct RequestFlags {
    /// Wire protocol [default: the target URL's scheme, else nines].
    #[arg(long, value_enum)]
    pub protocol: Option<Protocol>,
    #[arg(long, value_name = "BYTES", help = with_default(
        "Request payload (nines echo, echo, ws; redis: what __data__ stands for), or reply size asked for (--op source), e.g. 64, 4k",
        ByteCount(defaults::PAYLOAD_BYTES),
    ))]
    pub payload: Option<ByteCount>,
    #[arg(long, value_parser = op_parser(), help = with_default("nines: the operation", Op::Echo.name()))]
    pub op: Option<Op>,
    #[arg(long, help = with_default(
        "nines --op work: CPU microseconds each request asks the server to spend",
        defaults::WORK_US,
    ))]
    pub work_us: Option<u32>,
    #[arg(long, value_name = "METHOD", value_parser = parse_method, help = with_default(
        "http: the request method",
        defaults::HTTP_METHOD,
    ))]
    pub method: Option<String>,
    /// http, ws: an extra request header, `Name: value` (repeatable; sent with the WebSocket
    /// upgrade).
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = parse_header)]
    pub headers: Vec<String>,
    /// http: send this file's bytes as the request body.
    #[arg(long, value_name = "FILE")]
    pub body: Option<PathBuf>,
    /// http: statuses counted as answers besides 2xx, e.g. 404,3xx (others are `rejected`).
    #[arg(long, value_name = "CODES", value_parser = |s: &str| parse_accept(s).map(Codes))]
    pub accept: Option<Codes>,
    #[arg(long, value_enum, value_name = "TYPE", help = with_default(
        "ws: the message type",
        WsMessage::default(),
    ))]
    pub message: Option<WsMessage>,
    #[arg(long, value_name = "COMMAND", help = with_default(
        "redis: the command sent, e.g. \"SET key:__rand__ __data__\" (`__rand__`: a key number below --keyspace; `__data__`: --payload bytes)",
        defaults::REDIS_COMMAND,
    ))]
    pub command: Option<String>,
    #[arg(long, help = with_default(
        "redis: distinct key numbers `__rand__` takes",
        defaults::KEYSPACE,
    ))]
    pub keyspace: Option<u64>,
    #[arg(long, value_name = "BYTES", help = with_default(
        "http, ws, redis: the largest response taken (an HTTP body, a WebSocket message, a RESP reply, each counted as it arrives, never held); one announced or streamed past it is closed and counted as response_too_large",
        ByteCount(defaults::MAX_RESPONSE_BYTES as usize),
    ))]
    pub max_response: Option<ByteCount>,
}

/// Status codes from `--accept` (a newtype: one value holding a list, not a repeated flag).
#[derive(Debug, Clone)]
pub struct Codes(pub Vec<u16>);

/// The nines ops by name, listed in `--help`.
fn op_parser() -> impl TypedValueParser<Value = Op> {
    PossibleValuesParser::new(Op::ALL.map(Op::name))
        .try_map(|s: String| Op::from_name(&s).ok_or("not a nines op"))
}

impl RequestFlags {
    /// What each request is, for `target` (`None`: the embedded server).
    pub fn spec(&self, target: Option<&str>) -> Result<RequestSpec, Vec<UsageError>> {
        let url = match target {
            Some(t) => Some(url::parse(t).map_err(|m| vec![UsageError::new("TARGET", m)])?),
            None => None,
        };
        let from_url = url.as_ref().and_then(|u| u.protocol);
        let protocol = match (self.protocol, from_url) {
            (Some(p), Some(u)) if p != u => {
                return Err(vec![UsageError::new(
                    "--protocol",
                    format!("{p} disagrees with the target's {u}:// scheme; drop one"),
                )])
            }
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => Protocol::default(),
        };
        let resource = || Resource {
            path: url
                .as_ref()
                .map_or_else(|| "/".to_string(), |u| u.path.clone()),
            host: url
                .as_ref()
                .map_or_else(String::new, |u| u.host_header.clone()),
            headers: self.headers.clone(),
        };
        let payload = self.payload.map_or(defaults::PAYLOAD_BYTES, |b| b.0);
        let max_response_bytes = self
            .max_response
            .map_or(defaults::MAX_RESPONSE_BYTES, |b| b.0 as u64);
        let op = self.op.unwrap_or(Op::Echo);
        let spec = match protocol {
            Protocol::Nines => RequestSpec::Nines(match op {
                Op::Echo => NinesOp::Echo {
                    payload_bytes: payload,
                },
                Op::Source => NinesOp::Source {
                    reply_bytes: payload,
                },
                Op::Work => NinesOp::Work {
                    work_us: self.work_us.unwrap_or(defaults::WORK_US),
                },
                Op::Stats => NinesOp::Stats,
            }),
            Protocol::Echo => RequestSpec::Echo {
                payload_bytes: payload,
            },
            Protocol::Http => RequestSpec::Http(HttpRequest {
                method: self
                    .method
                    .clone()
                    .unwrap_or_else(|| defaults::HTTP_METHOD.to_string()),
                resource: resource(),
                body: match &self.body {
                    Some(path) => read_body(path)?,
                    None => Vec::new(),
                },
                accept: self.accept.clone().map(|c| c.0).unwrap_or_default(),
                max_response_bytes,
            }),
            Protocol::Ws => RequestSpec::Ws(WsRequest {
                resource: resource(),
                message: self.message.unwrap_or_default(),
                payload_bytes: payload,
                max_response_bytes,
            }),
            Protocol::Redis => RequestSpec::Redis(RedisRequest {
                command: self
                    .command
                    .clone()
                    .unwrap_or_else(|| defaults::REDIS_COMMAND.to_string()),
                keyspace: self.keyspace.unwrap_or(defaults::KEYSPACE),
                data_bytes: payload,
                max_response_bytes,
            }),
        };
        let refused = self.unread_by(&spec);
        if refused.is_empty() {
            Ok(spec)
        } else {
            Err(refused)
        }
    }

    /// The flags given that `spec` does not read, each refused with what it is for.
    fn unread_by(&self, spec: &RequestSpec) -> Vec<UsageError> {
        RequestFlag::ALL
            .into_iter()
            .filter(|f| f.given(self) && !f.read_by(spec))
            .map(|f| {
                UsageError::new(
                    f.name(),
                    format!(
                        "applies to {} only, not {}; drop it, or load a target it applies to",
                        f.for_what(),
                        spec.describe()
                    ),
                )
            })
            .collect()
    }
}

/// The `--body` file, read no further than the largest body a run takes (a file past it, or
/// an endless one like /dev/zero, is refused when the run is checked, not read to the end).
fn read_body(path: &std::path::Path) -> Result<Vec<u8>, Vec<UsageError>> {
    use std::io::Read;
    let bad = |e: std::io::Error| {
        vec![UsageError::new(
            "--body",
            format!("cannot read {}: {e}", path.display()),
        )]
    };
    let mut body = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(nines_driver::config::MAX_BODY_BYTES as u64 + 1)
                .read_to_end(&mut body)
        })
        .map_err(bad)?;
    Ok(body)
}

/// The request flags that only some requests read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestFlag {
    Payload,
    Op,
    WorkUs,
    Method,
    Header,
    Body,
    Accept,
    Message,
    Command,
    Keyspace,
    MaxResponse,
}

impl RequestFlag {
    const ALL: [RequestFlag; 11] = [
        RequestFlag::Payload,
        RequestFlag::Op,
        RequestFlag::WorkUs,
        RequestFlag::Method,
        RequestFlag::Header,
        RequestFlag::Body,
        RequestFlag::Accept,
        RequestFlag::Message,
        RequestFlag::Command,
        RequestFlag::Keyspace,
        RequestFlag::MaxResponse,
    ];

    /// As it is written on the command line.
    fn name(self) -> &'static str {
        match self {
            RequestFlag::Payload => "--payload",
            RequestFlag::Op => "--op",
            RequestFlag::WorkUs => "--work-us",
            RequestFlag::Method => "--method",
            RequestFlag::Header => "--header",
            RequestFlag::Body => "--body",
            RequestFlag::Accept => "--accept",
            RequestFlag::Message => "--message",
            RequestFlag::Command => "--command",
            RequestFlag::Keyspace => "--keyspace",
            RequestFlag::MaxResponse => "--max-response",
        }
    }

    /// Whether it was given.
    fn given(self, f: &RequestFlags) -> bool {
        match self {
            RequestFlag::Payload => f.payload.is_some(),
            RequestFlag::Op => f.op.is_some(),
            RequestFlag::WorkUs => f.work_us.is_some(),
            RequestFlag::Method => f.method.is_some(),
            RequestFlag::Header => !f.headers.is_empty(),
            RequestFlag::Body => f.body.is_some(),
            RequestFlag::Accept => f.accept.is_some(),
            RequestFlag::Message => f.message.is_some(),
            RequestFlag::Command => f.command.is_some(),
            RequestFlag::Keyspace => f.keyspace.is_some(),
            RequestFlag::MaxResponse => f.max_response.is_some(),
        }
    }

    /// Whether a request of this kind reads it.
    fn read_by(self, spec: &RequestSpec) -> bool {
        use RequestFlag as F;
        if self == F::MaxResponse {
            return spec.max_response_bytes().is_some();
        }
        match spec {
            RequestSpec::Nines(op) => match self {
                F::Op => true,
                F::Payload => matches!(op, NinesOp::Echo { .. } | NinesOp::Source { .. }),
                F::WorkUs => matches!(op, NinesOp::Work { .. }),
                _ => false,
            },
            RequestSpec::Echo { .. } => self == F::Payload,
            RequestSpec::Http(_) => matches!(self, F::Method | F::Header | F::Body | F::Accept),
            RequestSpec::Ws(_) => matches!(self, F::Header | F::Message | F::Payload),
            // A Redis command reads --payload and --keyspace only where its template says so.
            RequestSpec::Redis(r) => match self {
                F::Command => true,
                F::Payload => r.command.contains("__data__"),
                F::Keyspace => r.command.contains("__rand__") || r.command.contains("__rand_int__"),
                _ => false,
            },
        }
    }

    /// The requests that read it, in words.
    fn for_what(self) -> &'static str {
        match self {
            RequestFlag::Payload => {
                "nines echo and source, echo, ws, and a redis --command with __data__"
            }
            RequestFlag::Op => "nines",
            RequestFlag::WorkUs => "nines --op work",
            RequestFlag::Method | RequestFlag::Body | RequestFlag::Accept => "http://",
            RequestFlag::Header => "http:// and ws://",
            RequestFlag::Message => "ws://",
            RequestFlag::Command => "redis://",
            RequestFlag::Keyspace => "a redis --command with __rand__",
            RequestFlag::MaxResponse => "http://, ws:// and redis://",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(target: Option<&str>, f: impl FnOnce(&mut RequestFlags)) -> Vec<&'static str> {
        let mut flags = RequestFlags::default();
        f(&mut flags);
        match flags.spec(target) {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(|u| u.flag).collect(),
        }
    }

    #[test]
    fn flags_for_another_protocol_are_refused_where_they_are_read() {
        assert!(refused(None, |_| {}).is_empty());
        assert_eq!(
            refused(None, |f| f.method = Some("POST".into())),
            ["--method"]
        );
        assert_eq!(
            refused(None, |f| f.command = Some("GET k".into())),
            ["--command"]
        );
        assert_eq!(
            refused(Some("http://h/"), |f| f.op = Some(Op::Work)),
            ["--op"]
        );
        assert_eq!(
            refused(Some("http://h/"), |f| f.payload = Some(ByteCount(9))),
            ["--payload"]
        );
        assert_eq!(
            refused(None, |f| {
                f.op = Some(Op::Work);
                f.payload = Some(ByteCount(9));
            }),
            ["--payload"],
            "a Work request has no payload"
        );
        assert_eq!(
            refused(Some("redis://h"), |f| f.payload = Some(ByteCount(9))),
            ["--payload"],
            "PING has no __data__ to fill"
        );
        assert!(refused(Some("redis://h"), |f| {
            f.command = Some("SET k:__rand__ __data__".into());
            f.payload = Some(ByteCount(9));
            f.keyspace = Some(10);
        })
        .is_empty());
        assert_eq!(
            refused(Some("http://h/"), |f| f.protocol = Some(Protocol::Ws)),
            ["--protocol"]
        );
        assert_eq!(
            refused(None, |f| f.max_response = Some(ByteCount(1 << 20))),
            ["--max-response"],
            "nines replies are held whole, bounded by the frame"
        );
        for target in ["http://h/", "ws://h/", "redis://h"] {
            assert!(
                refused(Some(target), |f| f.max_response = Some(ByteCount(1 << 20))).is_empty()
            );
        }
    }

    #[test]
    fn every_request_flag_is_named_as_the_command_line_spells_it() {
        use clap::Args;
        let cmd = RequestFlags::augment_args(clap::Command::new("t"));
        for f in RequestFlag::ALL {
            let long = f.name().trim_start_matches("--");
            assert!(
                cmd.get_arguments().any(|a| a.get_long() == Some(long)),
                "{}",
                f.name()
            );
        }
    }

    #[test]
    fn the_url_names_the_resource() {
        let flags = RequestFlags {
            headers: vec!["X-A: 1".into()],
            ..RequestFlags::default()
        };
        let RequestSpec::Ws(w) = flags.spec(Some("ws://h:81/chat?x=1")).unwrap() else {
            panic!("a ws:// target is WebSocket");
        };
        assert_eq!(
            (w.resource.path.as_str(), w.resource.host.as_str()),
            ("/chat?x=1", "h:81")
        );
        assert_eq!(w.resource.headers, ["X-A: 1"]);
    }
}
