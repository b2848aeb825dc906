//! Checks on what each request is: flags that only some protocols read must not be given with
//! another (a `--command` with an http:// target is a mistake, not something to ignore), and
//! what the embedded server cannot serve is said before anything starts.

use nines_common::usage::UsageError;
use nines_common::Protocol;
use nines_protocol::Op;

use super::BenchConfig;
use crate::target::{split_command, HttpSpec, WsMessage};

impl BenchConfig {
    pub(super) fn check_request(&self, e: &mut Vec<UsageError>) {
        let spec = &self.request;
        let p = spec.protocol;
        let http = &spec.http;
        let plain = HttpSpec::default();
        let only = |flag: &'static str, applies: &str| {
            UsageError::new(flag, format!("applies to {applies} targets only, not {p}"))
        };
        if p != Protocol::Http {
            if http.method != plain.method {
                e.push(only("--method", "http://"));
            }
            if !http.body.is_empty() {
                e.push(only("--body", "http://"));
            }
            if !http.accept.is_empty() {
                e.push(only("--accept", "http://"));
            }
        }
        if !matches!(p, Protocol::Http | Protocol::Ws) && !http.headers.is_empty() {
            e.push(only("--header", "http:// and ws://"));
        }
        if p != Protocol::Ws && spec.ws_message != WsMessage::default() {
            e.push(only("--message", "ws://"));
        }
        if p != Protocol::Nines && spec.op != Op::Echo {
            e.push(only("--op", "nines"));
        }
        match (&spec.redis, p) {
            (Some(_), q) if q != Protocol::Redis => e.push(only("--command", "redis://")),
            (Some(r), _) => {
                if let Err(m) = split_command(&r.command) {
                    e.push(UsageError::new("--command", m));
                }
                if r.keyspace == 0 {
                    e.push(UsageError::at_least("--keyspace", 0, 1, ""));
                }
            }
            (None, _) => {}
        }
        if self.embedded() && !p.served_by_nines_server() {
            e.push(UsageError::new(
                "--protocol",
                format!(
                    "{p}: the embedded nines-server does not serve it; give a {}:// target",
                    p.scheme().unwrap_or("host:port")
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::RedisSpec;

    fn errors(f: impl FnOnce(&mut BenchConfig)) -> Vec<&'static str> {
        let mut cfg = BenchConfig::default();
        f(&mut cfg);
        let mut e = Vec::new();
        cfg.check_request(&mut e);
        e.iter().map(|u| u.flag).collect()
    }

    #[test]
    fn flags_for_another_protocol_are_refused() {
        assert!(errors(|_| {}).is_empty());
        assert_eq!(
            errors(|c| c.request.http.method = "POST".into()),
            ["--method"]
        );
        assert_eq!(
            errors(|c| c.request.redis = Some(RedisSpec::default())),
            ["--command"]
        );
        assert_eq!(
            errors(|c| {
                c.request.protocol = Protocol::Http;
                c.request.op = Op::Work;
            }),
            ["--op"]
        );
        assert_eq!(
            errors(|c| c.request.protocol = Protocol::Redis),
            ["--protocol"],
            "no embedded redis"
        );
        assert_eq!(
            errors(|c| {
                c.target = Some("redis://127.0.0.1".into());
                c.request.protocol = Protocol::Redis;
                c.request.redis = Some(RedisSpec {
                    command: "\"open".into(),
                    ..RedisSpec::default()
                });
            }),
            ["--command"]
        );
    }
}
