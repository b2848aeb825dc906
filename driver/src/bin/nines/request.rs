//! What each request is, from the target and the flags: shared by `bench`, `sweep` and `storm`.

use nines_common::usage::UsageError;
use nines_common::Protocol;
use nines_driver::config::defaults;
use nines_driver::target::{url, HttpSpec, RedisSpec, RequestSpec};
use nines_protocol::Op;

use crate::args::HttpArgs;

/// The flags a request is built from.
#[derive(Debug)]
pub struct Wire<'a> {
    /// The target as given.
    pub target: Option<&'a str>,
    /// `--protocol`, if given.
    pub protocol: Option<Protocol>,
    /// HTTP, WebSocket and Redis flags.
    pub http: &'a HttpArgs,
    /// `--payload`.
    pub payload: usize,
    /// `--op`.
    pub op: Op,
    /// `--work-us`.
    pub work_us: u32,
}

/// What each request is: the protocol from `--protocol` or the target's scheme (which must
/// agree), and what HTTP, WebSocket and Redis requests carry.
pub fn spec(w: &Wire<'_>) -> Result<RequestSpec, UsageError> {
    let url = match w.target {
        Some(t) => Some(url::parse(t).map_err(|m| UsageError::new("TARGET", m))?),
        None => None,
    };
    let from_url = url.as_ref().and_then(|u| u.protocol);
    let protocol = match (w.protocol, from_url) {
        (Some(p), Some(u)) if p != u => {
            return Err(UsageError::new(
                "--protocol",
                format!("{p} disagrees with the target's {u}:// scheme; drop one"),
            ))
        }
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => Protocol::default(),
    };
    let h = w.http;
    let mut http = HttpSpec::default();
    if let Some(u) = &url {
        http.path.clone_from(&u.path);
        http.host.clone_from(&u.host_header);
    }
    if let Some(m) = &h.method {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase() || b == b'-') {
            return Err(UsageError::new(
                "--method",
                format!("`{m}` is not a method (GET, POST, ...)"),
            ));
        }
        http.method.clone_from(m);
    }
    http.headers.clone_from(&h.headers);
    if let Some(path) = &h.body {
        http.body = std::fs::read(path).map_err(|e| {
            UsageError::new("--body", format!("cannot read {}: {e}", path.display()))
        })?;
    }
    http.accept = h.accept.clone().map(|c| c.0).unwrap_or_default();
    let redis = (protocol == Protocol::Redis || h.command.is_some()).then(|| RedisSpec {
        command: h
            .command
            .clone()
            .unwrap_or_else(|| defaults::REDIS_COMMAND.to_string()),
        keyspace: h.keyspace,
        data_bytes: w.payload,
    });
    if protocol != Protocol::Http && protocol != Protocol::Ws && !http.host.is_empty() {
        // A plain host:port target: no HTTP request to describe.
        http.host.clear();
    }
    Ok(RequestSpec {
        protocol,
        op: w.op,
        payload_bytes: w.payload,
        work_us: w.work_us,
        http,
        ws_message: h.message.unwrap_or_default(),
        redis,
    })
}
