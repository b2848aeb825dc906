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

use super::{not_here, with_default};

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
                    Some(path) => std::fs::read(path).map_err(|e| {
                        vec![UsageError::new(
                            "--body",
                            format!("cannot read {}: {e}", path.display()),
                        )]
                    })?,
                    None => Vec::new(),
                },
                accept: self.accept.clone().map(|c| c.0).unwrap_or_default(),
            }),
            Protocol::Ws => RequestSpec::Ws(WsRequest {
                resource: resource(),
                message: self.message.unwrap_or_default(),
                payload_bytes: payload,
            }),
            Protocol::Redis => RequestSpec::Redis(RedisRequest {
                command: self
                    .command
                    .clone()
                    .unwrap_or_else(|| defaults::REDIS_COMMAND.to_string()),
                keyspace: self.keyspace.unwrap_or(defaults::KEYSPACE),
                data_bytes: payload,
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
        let reads = |flag: &str| match spec {
            RequestSpec::Nines(op) => match flag {
                "--op" => true,
                "--payload" => matches!(op, NinesOp::Echo { .. } | NinesOp::Source { .. }),
                "--work-us" => matches!(op, NinesOp::Work { .. }),
                _ => false,
            },
            RequestSpec::Echo { .. } => flag == "--payload",
            RequestSpec::Http(_) => {
                matches!(flag, "--method" | "--header" | "--body" | "--accept")
            }
            RequestSpec::Ws(_) => matches!(flag, "--header" | "--message" | "--payload"),
            RequestSpec::Redis(_) => matches!(flag, "--command" | "--keyspace" | "--payload"),
        };
        let given = [
            (
                "--payload",
                self.payload.is_some(),
                "nines echo and source, echo, ws, redis",
            ),
            ("--op", self.op.is_some(), "nines"),
            ("--work-us", self.work_us.is_some(), "nines --op work"),
            ("--method", self.method.is_some(), "http://"),
            ("--header", !self.headers.is_empty(), "http:// and ws://"),
            ("--body", self.body.is_some(), "http://"),
            ("--accept", self.accept.is_some(), "http://"),
            ("--message", self.message.is_some(), "ws://"),
            ("--command", self.command.is_some(), "redis://"),
            ("--keyspace", self.keyspace.is_some(), "redis://"),
        ];
        given
            .into_iter()
            .filter(|&(flag, given, _)| given && !reads(flag))
            .map(|(flag, _, for_what)| {
                not_here(
                    flag,
                    format!("applies to {for_what} only, not {}", spec.describe()),
                )
            })
            .collect()
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
        assert!(refused(Some("redis://h"), |f| f.payload = Some(ByteCount(9))).is_empty());
        assert_eq!(
            refused(Some("http://h/"), |f| f.protocol = Some(Protocol::Ws)),
            ["--protocol"]
        );
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
