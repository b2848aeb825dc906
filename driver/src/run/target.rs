//! The target of a run: a `host:port` resolved to one address, or nines-server started in this
//! process on 127.0.0.1 — and one blocking connect first, so "nothing is listening there" is one
//! clear error rather than a connect error per connection.

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::Arc;

use nines_common::usage::UsageError;

use nines_common::DEFAULT_PORT;

use super::RunError;
use crate::config::{BenchConfig, RequestSpec, Target, TlsOptions};
use crate::target::url::has_port;
use crate::transport::TlsClient;

/// Resolves `host:port` (or `host`, meaning port 9999), or a URL's host and port, to one
/// address.
pub fn resolve(target: &str) -> Result<SocketAddr, RunError> {
    let err = |source| RunError::Resolve {
        target: target.to_string(),
        source,
    };
    let url = crate::target::url::parse(target)
        .map_err(|msg| err(std::io::Error::new(std::io::ErrorKind::InvalidInput, msg)))?;
    let target = url.authority.as_str();
    let with_port = if target.parse::<SocketAddr>().is_ok() || has_port(target) {
        target.to_string()
    } else {
        format!(
            "{}:{DEFAULT_PORT}",
            target.trim_start_matches('[').trim_end_matches(']')
        )
    };
    let mut addrs = with_port.to_socket_addrs().map_err(err)?;
    addrs.next().ok_or_else(|| {
        err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no address",
        ))
    })
}

/// Starts nines-server in this process on 127.0.0.1 (a free port) for runs without a target:
/// serving what `request` speaks, with `server_workers` workers.
pub fn start_embedded(
    request: &RequestSpec,
    server_workers: usize,
) -> Result<nines_server::ServerHandle, RunError> {
    let protocol = match request {
        RequestSpec::Nines(_) => nines_server::Protocol::Nines,
        RequestSpec::Echo { .. } => nines_server::Protocol::Echo,
        RequestSpec::Http(_) => nines_server::Protocol::Http,
        RequestSpec::Ws(_) => nines_server::Protocol::Ws,
        RequestSpec::Redis(_) => {
            return Err(RunError::Server(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "nines-server does not speak Redis; give a redis:// target",
            )))
        }
    };
    let sc = nines_server::ServerConfig {
        protocol,
        workers: server_workers.max(1),
        ..Default::default()
    };
    nines_server::Server::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        sc,
        &nines_server::listener::ListenOptions::default(),
    )
    .map_err(RunError::Server)
}

/// Refuses `--source` addresses that cannot reach `target`: another address family, or an
/// address this host does not have. Checked before the run, not once per connection.
pub fn check_sources(sources: &[IpAddr], target: SocketAddr) -> Result<(), RunError> {
    let family = |ip: &IpAddr| if ip.is_ipv4() { "IPv4" } else { "IPv6" };
    let refuse = |why: String| Err(RunError::Usage(vec![UsageError::new("--source", why)]));
    for ip in sources {
        if ip.is_ipv4() != target.is_ipv4() {
            return refuse(format!(
                "{ip} is {}, the target {} {}: give source addresses of the target's family",
                family(ip),
                target.ip(),
                family(&target.ip())
            ));
        }
        if let Err(e) = UdpSocket::bind((*ip, 0)) {
            return refuse(format!(
                "{ip}: cannot connect from it ({e}); give addresses this host has (`ip addr`)"
            ));
        }
    }
    Ok(())
}

/// The TLS client a run at `addr` uses (none for a plain-text target), built from its
/// settings and checked with one handshake, so a certificate that does not verify is one line
/// before any load.
pub fn tls_client(cfg: &BenchConfig, addr: SocketAddr) -> Result<Option<Arc<TlsClient>>, RunError> {
    let Target::Address(target) = &cfg.target else {
        return Ok(None);
    };
    let url = crate::target::url::parse(target).map_err(|m| usage("TARGET", m))?;
    let opts = match (&cfg.tls, url.tls) {
        (None, false) => return Ok(None),
        (Some(o), _) => o.clone(),
        (None, true) => TlsOptions::default(),
    };
    let alpn: Option<&[u8]> = match cfg.request.first() {
        // WebSocket upgrades over HTTP/1.1 too.
        RequestSpec::Http(_) | RequestSpec::Ws(_) => Some(b"http/1.1"),
        _ => None,
    };
    let client = TlsClient::new(&opts, url.host(), alpn).map_err(|e| RunError::Usage(vec![e]))?;
    crate::transport::probe::handshake(&client, addr, cfg.connect_timeout)
        .map_err(|failure| RunError::Tls { addr, failure })?;
    Ok(Some(Arc::new(client)))
}

fn usage(flag: &'static str, msg: String) -> RunError {
    RunError::Usage(vec![UsageError::new(flag, msg)])
}

/// What a run connects to: the address (and the embedded server, if one was started), checked
/// to answer, and the TLS client for a TLS target.
pub(crate) struct Opened {
    pub addr: SocketAddr,
    pub server: Option<nines_server::ServerHandle>,
    pub tls: Option<Arc<TlsClient>>,
}

/// The address to load (and the embedded server, if one was started), checked to answer.
pub(crate) fn open(cfg: &BenchConfig) -> Result<Opened, RunError> {
    let (addr, server) = match &cfg.target {
        Target::Address(t) => (resolve(t)?, None),
        Target::Embedded { server_workers } => {
            let s = start_embedded(cfg.request.first(), *server_workers)?;
            (s.local_addr(), Some(s))
        }
    };
    check_sources(&cfg.source_addrs, addr)?;
    TcpStream::connect_timeout(&addr, cfg.connect_timeout)
        .map_err(|source| RunError::Connect { addr, source })?;
    let tls = tls_client(cfg, addr)?;
    Ok(Opened { addr, server, tls })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_with_and_without_port() {
        assert_eq!(
            resolve("127.0.0.1:80").unwrap(),
            "127.0.0.1:80".parse().unwrap()
        );
        assert_eq!(resolve("127.0.0.1").unwrap().port(), DEFAULT_PORT);
        assert_eq!(resolve("[::1]:81").unwrap(), "[::1]:81".parse().unwrap());
        assert_eq!(resolve("::1").unwrap().port(), DEFAULT_PORT);
        assert_eq!(resolve("localhost:82").unwrap().port(), 82);
        assert!(matches!(
            resolve("no-such-host.invalid:1"),
            Err(RunError::Resolve { .. })
        ));
    }

    #[test]
    fn sources_must_match_the_target_and_exist() {
        let v4: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let ok = ["127.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap()];
        assert!(check_sources(&ok, v4).is_ok());
        let said = |sources: &[IpAddr], target| match check_sources(sources, target) {
            Err(RunError::Usage(e)) => e[0].to_string(),
            other => panic!("{other:?}"),
        };
        let msg = said(&["::1".parse().unwrap()], v4);
        assert!(
            msg.contains("::1 is IPv6, the target 127.0.0.1 IPv4"),
            "{msg}"
        );
        let msg = said(&["127.0.0.1".parse().unwrap()], "[::1]:1".parse().unwrap());
        assert!(msg.contains("is IPv4, the target ::1 IPv6"), "{msg}");
        // TEST-NET-1: no host has it.
        let msg = said(
            &["192.0.2.7".parse().unwrap()],
            "192.0.2.1:1".parse().unwrap(),
        );
        assert!(msg.contains("192.0.2.7: cannot connect from it"), "{msg}");
    }
}
