//! Targets as the user writes them: `host:port` (nines, or echo with `--protocol echo`), or a
//! URL whose scheme names the protocol: `http://host:port/path`, `ws://host:port/path`,
//! `redis://host:port`, and their TLS forms `https://`, `wss://`, `rediss://`.

use nines_common::DEFAULT_PORT;

use crate::config::Protocol;

/// A target, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl {
    /// The protocol the scheme names (`None` for a plain `host:port`).
    pub protocol: Option<Protocol>,
    /// `host:port` to connect to (the scheme's default port filled in).
    pub authority: String,
    /// The `Host` header: the authority as written.
    pub host_header: String,
    /// Path and query (`/` when none).
    pub path: String,
    /// The scheme asks for TLS (`https`, `wss`, `rediss`).
    pub tls: bool,
}

impl TargetUrl {
    /// The host alone (no port, no IPv6 brackets): the name TLS verifies.
    pub fn host(&self) -> &str {
        let a = self.authority.as_str();
        let host = match a.rsplit_once(':') {
            Some((h, _)) if has_port(a) => h,
            _ => a,
        };
        host.trim_start_matches('[').trim_end_matches(']')
    }
}

/// A scheme: the protocol it names, and whether over TLS.
fn scheme(s: &str) -> Option<(Protocol, bool)> {
    let lower = s.to_ascii_lowercase();
    let plain = match lower.as_str() {
        "https" => "http",
        "wss" => "ws",
        "rediss" => "redis",
        other => return Protocol::from_scheme(other).map(|p| (p, false)),
    };
    Protocol::from_scheme(plain).map(|p| (p, true))
}

/// Takes a target apart; the error is one line saying what is wrong.
pub fn parse(target: &str) -> Result<TargetUrl, String> {
    let Some((scheme, rest)) = target.split_once("://") else {
        check_port(target, target)?;
        return Ok(TargetUrl {
            protocol: None,
            authority: target.to_string(),
            host_header: target.to_string(),
            path: "/".to_string(),
            tls: false,
        });
    };
    let Some((protocol, tls)) = self::scheme(scheme) else {
        return Err(format!(
            "`{target}`: unknown scheme `{scheme}` (use http://, https://, ws://, wss://, redis://, rediss://, or host:port)"
        ));
    };
    // A fragment names a place in a page for a browser; it is never sent.
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!(
            "`{target}`: expected {scheme}://host[:port]/path (no user info)"
        ));
    }
    check_port(target, authority)?;
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    if path
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(format!(
            "`{target}`: the path has spaces or control characters"
        ));
    }
    if protocol == Protocol::Redis && path != "/" {
        return Err(format!(
            "`{target}`: redis:// targets take no path or database number (database 0 is used)"
        ));
    }
    let with_port = if has_port(authority) {
        authority.to_string()
    } else {
        format!("{authority}:{}", default_port(protocol, tls))
    };
    Ok(TargetUrl {
        protocol: Some(protocol),
        authority: with_port,
        host_header: authority.to_string(),
        path,
        tls,
    })
}

/// The port a scheme implies.
fn default_port(p: Protocol, tls: bool) -> u16 {
    match p {
        Protocol::Http | Protocol::Ws if tls => 443,
        Protocol::Http | Protocol::Ws => 80,
        Protocol::Redis => 6379,
        Protocol::Nines | Protocol::Echo => DEFAULT_PORT,
    }
}

/// Refuses a port that is written but is no TCP port (`host:99999`, `host:0`, `host:abc`,
/// `host:`), naming it: the resolver would otherwise answer "Name or service not known" about a
/// host that is fine.
fn check_port(target: &str, authority: &str) -> Result<(), String> {
    let Some((host, port)) = authority.rsplit_once(':') else {
        return Ok(());
    };
    // `::1` is an address without a port, not host `:` and port `1`.
    if host.contains(':') && !host.ends_with(']') {
        return Ok(());
    }
    let max = u16::MAX;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => Err(format!(
            "`{target}`: port {port} is out of range: allowed 1 to {max}"
        )),
        _ => Err(format!(
            "`{target}`: `{port}` is not a port: give a number, 1 to {max}"
        )),
    }
}

/// Whether `host[:port]` (or `[v6]:port`) names a port.
pub(crate) fn has_port(t: &str) -> bool {
    match t.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.ends_with(':')
                && port.parse::<u16>().is_ok()
                && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_protocol_address_and_path() {
        let u = parse("http://127.0.0.1:8080/a/b?c=1").unwrap();
        assert_eq!(u.protocol, Some(Protocol::Http));
        assert_eq!(
            (u.authority.as_str(), u.path.as_str()),
            ("127.0.0.1:8080", "/a/b?c=1")
        );
        let u = parse("ws://localhost").unwrap();
        assert_eq!(
            (
                u.authority.as_str(),
                u.host_header.as_str(),
                u.path.as_str()
            ),
            ("localhost:80", "localhost", "/")
        );
        let u = parse("redis://[::1]").unwrap();
        assert_eq!(
            (u.protocol, u.authority.as_str()),
            (Some(Protocol::Redis), "[::1]:6379")
        );
        let u = parse("10.0.0.1:9999").unwrap();
        assert_eq!((u.protocol, u.authority.as_str()), (None, "10.0.0.1:9999"));
        assert_eq!(parse("http://h:1?x").unwrap().path, "/?x");
        assert_eq!(parse("http://h:1/p?q=1#frag").unwrap().path, "/p?q=1");
    }

    #[test]
    fn tls_schemes_name_the_protocol_over_tls() {
        let u = parse("https://example.com/x").unwrap();
        assert_eq!(
            (u.protocol, u.tls, u.authority.as_str(), u.host()),
            (Some(Protocol::Http), true, "example.com:443", "example.com")
        );
        let u = parse("WSS://[::1]:8443/chat").unwrap();
        assert_eq!(
            (u.protocol, u.tls, u.host()),
            (Some(Protocol::Ws), true, "::1")
        );
        let u = parse("rediss://127.0.0.1").unwrap();
        assert_eq!(
            (u.protocol, u.tls, u.authority.as_str()),
            (Some(Protocol::Redis), true, "127.0.0.1:6379")
        );
        assert!(!parse("http://h/").unwrap().tls);
        assert_eq!(parse("10.0.0.1:9999").unwrap().host(), "10.0.0.1");
    }

    #[test]
    fn bad_urls_say_why() {
        assert!(parse("gopher://h/").unwrap_err().contains("unknown scheme"));
        assert!(parse("http:///x").unwrap_err().contains("host"));
        assert!(parse("redis://h/3").unwrap_err().contains("database"));
        assert!(parse("http://h/a b").unwrap_err().contains("spaces"));
        for t in [
            "127.0.0.1:99999",
            "http://h:70000/",
            "[::1]:0",
            "h:123456789012345678901",
        ] {
            let e = parse(t).unwrap_err();
            assert!(e.contains("out of range: allowed 1 to 65535"), "{t}: {e}");
        }
        for t in ["127.0.0.1:", "h:abc", "h:-1", "[::1]:", "http://h:x/"] {
            let e = parse(t).unwrap_err();
            assert!(e.contains("is not a port: give a number"), "{t}: {e}");
        }
        for t in [
            "127.0.0.1:65535",
            "::1",
            "[::1]",
            "[::1]:1",
            "host",
            "http://h:80/",
            "fe80::1",
        ] {
            assert!(parse(t).is_ok(), "{t}");
        }
    }
}
