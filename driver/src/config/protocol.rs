//! The wire protocols the driver speaks, named once for flags, `--help`, URL schemes, reports
//! and error messages. (nines-server has its own, narrower type: it does not serve Redis.)

use serde::{Deserialize, Serialize};

/// A wire protocol the driver speaks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// nines frames: ids, intended send times and server residence times on every request.
    #[default]
    Nines,
    /// Plain byte echo: whatever is sent comes back, as any echo server does.
    Echo,
    /// HTTP/1.1 with keep-alive (`http://` targets): nginx, or `nines-server --protocol http`.
    Http,
    /// WebSocket (RFC 6455) messages echoed back (`ws://` targets): an echo gateway, or
    /// `nines-server --protocol ws`.
    Ws,
    /// Redis RESP2 commands (`redis://` targets): redis-server or anything that speaks RESP.
    Redis,
}

impl Protocol {
    /// The URL scheme that names this protocol in a target (`http://host:port/path`); nines and
    /// echo targets are plain `host:port`.
    pub fn scheme(self) -> Option<&'static str> {
        match self {
            Protocol::Nines | Protocol::Echo => None,
            Protocol::Http => Some("http"),
            Protocol::Ws => Some("ws"),
            Protocol::Redis => Some("redis"),
        }
    }

    /// The protocol a URL scheme names.
    pub fn from_scheme(scheme: &str) -> Option<Protocol> {
        <Protocol as clap::ValueEnum>::value_variants()
            .iter()
            .copied()
            .find(|p| p.scheme().is_some_and(|s| s.eq_ignore_ascii_case(scheme)))
    }
}

nines_common::value_enum_display!(Protocol);

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn names_are_the_same_everywhere() {
        for p in Protocol::value_variants() {
            let name = p.to_string();
            assert_eq!(Protocol::from_str(&name, false), Ok(*p));
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::Value::String(name.clone()),
                "the report spells it as the flag does"
            );
            assert_eq!(name.parse::<Protocol>(), Ok(*p));
        }
        assert_eq!(Protocol::Nines.to_string(), "nines");
        assert!("gopher"
            .parse::<Protocol>()
            .unwrap_err()
            .contains("nines, echo"));
        assert_eq!(Protocol::from_scheme("HTTP"), Some(Protocol::Http));
        assert_eq!(Protocol::from_scheme("gopher"), None);
        for p in Protocol::value_variants() {
            if let Some(s) = p.scheme() {
                assert_eq!(Protocol::from_scheme(s), Some(*p));
            }
        }
    }
}
