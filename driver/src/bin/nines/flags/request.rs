//! What each request is: the protocol (from `--protocol` or the target URL's scheme, which must
//! agree) and the flags that protocol reads, or a weighted mix of requests (`--request`,
//! `--request-file`) in that protocol's own terms. A flag no request reads is refused here, at
//! the edge, with what it is for — so the library's request values can never hold one.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Args;
use nines_common::units::ByteCount;
use nines_common::usage::UsageError;
use nines_driver::config::{
    defaults, method_sends_body, mix_example, parse_accept, parse_header, parse_method,
    parse_request_file, parse_weighted, Body, HttpRequest, Line, NinesOp, Payload, Protocol,
    RedisRequest, RequestSpec, Requests, Resource, WsMessage, WsRequest,
};
use nines_driver::target::url;
use nines_protocol::Op;

use super::refusal::RequestFlag;
use super::with_default;

/// What each request is.
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Requests (each flag applies to the protocols it names)")]
pub struct RequestFlags {
    /// Wire protocol [default: the target URL's scheme, else nines].
    #[arg(long, value_enum)]
    pub protocol: Option<Protocol>,
    #[arg(long, value_name = "BYTES|MIN..MAX", value_parser = Payload::parse, help = with_default(
        "Request payload (nines echo, echo, ws; redis: what __data__ stands for; http: the body of a POST, PUT or PATCH), or reply size asked for (--op source), e.g. 64, 4k; MIN..MAX draws each request's size uniformly, e.g. 64..4k",
        ByteCount(defaults::PAYLOAD_BYTES),
    ))]
    pub payload: Option<Payload>,
    /// Like --payload, each request's size drawn from this file's list: one size a line (512,
    /// 4k), e.g. taken from production logs; `#` comments.
    #[arg(long, value_name = "FILE", conflicts_with = "payload")]
    pub payload_file: Option<PathBuf>,
    /// One line of a weighted mix, `WEIGHT [name=NAME] REQUEST` (repeatable): each request is
    /// chosen by weight (from --seed). REQUEST in the protocol's own terms: http `METHOD PATH
    /// [@BODY-FILE]`, redis the command, nines `echo|source [SIZE]`, `work [US]` or `stats`,
    /// ws `binary|text [SIZE]`, echo `SIZE`. Results are kept per line, under NAME (default:
    /// REQUEST as written).
    // Hyphen values allowed: `--request "-1 GET /"` is a line with a bad weight, which the
    // line's parser names, not an unknown flag `-1`.
    #[arg(
        long = "request",
        value_name = "WEIGHT REQUEST",
        allow_hyphen_values = true
    )]
    pub mix: Vec<String>,
    /// Mix lines from a file, one `WEIGHT [name=NAME] REQUEST` a line, `#` comments; @BODY-FILE
    /// paths are relative to the file.
    #[arg(long, value_name = "FILE")]
    pub request_file: Option<PathBuf>,
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
    /// Whether anything is drawn per request (a mix, or sizes), so `--seed` matters.
    pub fn draws(&self) -> bool {
        !self.mix.is_empty()
            || self.request_file.is_some()
            || self.payload_file.is_some()
            || self.payload.as_ref().is_some_and(|p| p.fixed().is_none())
    }

    /// What each request is, for `target` (`None`: the embedded server), drawn with `seed`.
    pub fn requests(&self, target: Option<&str>, seed: u64) -> Result<Requests, Vec<UsageError>> {
        let payload = self.payload_sizes()?;
        let base = self.base(target, payload.as_ref())?;
        let lines = self.lines(&base, payload.as_ref())?;
        let specs: Vec<&RequestSpec> = match &lines {
            Some(lines) => lines.iter().map(|l| &l.request).collect(),
            None => vec![&base],
        };
        let refused = self.unread_by(&specs, lines.is_some());
        if !refused.is_empty() {
            return Err(refused);
        }
        match lines {
            None => Ok(Requests::one(base).with_seed(seed)),
            Some(lines) => {
                let flag = if self.mix.is_empty() {
                    "--request-file"
                } else {
                    "--request"
                };
                Requests::mix(lines, seed).map_err(|m| vec![UsageError::new(flag, m)])
            }
        }
    }

    /// Whether `flag` was given.
    fn given(&self, flag: RequestFlag) -> bool {
        let f = self;
        match flag {
            RequestFlag::Payload => f.payload.is_some(),
            RequestFlag::PayloadFile => f.payload_file.is_some(),
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

    /// `--payload`, or the sizes listed in `--payload-file`.
    fn payload_sizes(&self) -> Result<Option<Payload>, Vec<UsageError>> {
        let Some(path) = &self.payload_file else {
            return Ok(self.payload.clone());
        };
        let bad = |m: String| {
            vec![UsageError::new(
                "--payload-file",
                format!("{}: {m}", path.display()),
            )]
        };
        let text = read_text(path).map_err(bad)?;
        Payload::parse_list(&text).map(Some).map_err(bad)
    }

    /// The mix's lines, if `--request` or `--request-file` gave any.
    fn lines(
        &self,
        base: &RequestSpec,
        payload: Option<&Payload>,
    ) -> Result<Option<Vec<Line>>, Vec<UsageError>> {
        if self.mix.is_empty() && self.request_file.is_none() {
            return Ok(None);
        }
        let mut lines = Vec::new();
        for text in &self.mix {
            let line = parse_weighted(text, base, payload, None)
                .map_err(|m| vec![UsageError::new("--request", m)])?;
            lines.push(line);
        }
        if let Some(path) = &self.request_file {
            let bad = |m: String| {
                vec![UsageError::new(
                    "--request-file",
                    format!("{}: {m}", path.display()),
                )]
            };
            let text = read_text(path).map_err(bad)?;
            lines.extend(parse_request_file(&text, base, payload, path.parent()).map_err(bad)?);
        }
        Ok(Some(lines))
    }

    /// The request the flags describe: the whole request, or, for a mix, what its lines share.
    fn base(
        &self,
        target: Option<&str>,
        payload: Option<&Payload>,
    ) -> Result<RequestSpec, Vec<UsageError>> {
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
        let sizes = payload.cloned().unwrap_or_default();
        let max_response_bytes = self
            .max_response
            .map_or(defaults::MAX_RESPONSE_BYTES, |b| b.0 as u64);
        let op = self.op.unwrap_or(Op::Echo);
        let spec = match protocol {
            Protocol::Nines => RequestSpec::Nines(match op {
                Op::Echo => NinesOp::Echo {
                    payload_bytes: sizes,
                },
                Op::Source => NinesOp::Source { reply_bytes: sizes },
                Op::Work => NinesOp::Work {
                    work_us: self.work_us.unwrap_or(defaults::WORK_US),
                },
                Op::Stats => NinesOp::Stats,
            }),
            Protocol::Echo => RequestSpec::Echo {
                payload_bytes: sizes,
            },
            Protocol::Http => {
                let method = self
                    .method
                    .clone()
                    .unwrap_or_else(|| defaults::HTTP_METHOD.to_string());
                let body = match (&self.body, payload) {
                    (Some(path), _) => Body::Bytes(read_body(path)?),
                    (None, Some(p)) if method_sends_body(&method) => Body::Sized(p.clone()),
                    (None, _) => Body::None,
                };
                RequestSpec::Http(HttpRequest {
                    method,
                    resource: resource(),
                    body,
                    accept: self.accept.clone().map(|c| c.0).unwrap_or_default(),
                    max_response_bytes,
                })
            }
            Protocol::Ws => RequestSpec::Ws(WsRequest {
                resource: resource(),
                message: self.message.unwrap_or_default(),
                payload_bytes: sizes,
                max_response_bytes,
            }),
            Protocol::Redis => RequestSpec::Redis(RedisRequest {
                command: self
                    .command
                    .clone()
                    .unwrap_or_else(|| defaults::REDIS_COMMAND.to_string()),
                keyspace: self.keyspace.unwrap_or(defaults::KEYSPACE),
                data_bytes: sizes,
                max_response_bytes,
            }),
        };
        Ok(spec)
    }

    /// The flags given that no request of `specs` reads, each refused with what it is for;
    /// with a `mix`, also the flags each line says for itself.
    fn unread_by(&self, specs: &[&RequestSpec], mix: bool) -> Vec<UsageError> {
        let protocol = specs[0].protocol();
        RequestFlag::ALL
            .into_iter()
            .filter(|f| self.given(*f))
            .filter_map(|f| {
                if mix && f.said_by_lines() {
                    return Some(UsageError::new(
                        f.name(),
                        format!(
                            "each --request line says its own (e.g. {}); drop {}",
                            mix_example(protocol),
                            f.name()
                        ),
                    ));
                }
                (!specs.iter().any(|s| f.read_by(s))).then(|| {
                    UsageError::new(
                        f.name(),
                        format!(
                            "applies to {} only, not {}; drop it, or load a target it applies to",
                            f.for_what(),
                            specs[0].describe()
                        ),
                    )
                })
            })
            .collect()
    }
}

/// A file's text, read no further than a list of sizes or requests needs (64 MiB).
fn read_text(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(64 << 20).read_to_string(&mut text))
        .map_err(|e| format!("cannot read it: {e}"))?;
    Ok(text)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(target: Option<&str>, f: impl FnOnce(&mut RequestFlags)) -> Vec<&'static str> {
        let mut flags = RequestFlags::default();
        f(&mut flags);
        match flags.requests(target, 1) {
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
            refused(Some("http://h/"), |f| f.payload = Some(Payload::Fixed(9))),
            ["--payload"]
        );
        assert_eq!(
            refused(None, |f| {
                f.op = Some(Op::Work);
                f.payload = Some(Payload::Fixed(9));
            }),
            ["--payload"],
            "a Work request has no payload"
        );
        assert_eq!(
            refused(Some("redis://h"), |f| f.payload = Some(Payload::Fixed(9))),
            ["--payload"],
            "PING has no __data__ to fill"
        );
        assert!(refused(Some("redis://h"), |f| {
            f.command = Some("SET k:__rand__ __data__".into());
            f.payload = Some(Payload::Fixed(9));
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
        let requests = flags.requests(Some("ws://h:81/chat?x=1"), 1).unwrap();
        let RequestSpec::Ws(w) = requests.first() else {
            panic!("a ws:// target is WebSocket");
        };
        assert_eq!(
            (w.resource.path.as_str(), w.resource.host.as_str()),
            ("/chat?x=1", "h:81")
        );
        assert_eq!(w.resource.headers, ["X-A: 1"]);
    }
}
