//! The target of a run: a `host:port` resolved to one address, or nines-server started in this
//! process on 127.0.0.1 — and one blocking connect first, so "nothing is listening there" is one
//! clear error rather than a connect error per connection.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};

use nines_common::DEFAULT_PORT;

use super::RunError;
use crate::config::{BenchConfig, RequestSpec, Target};
use crate::target::url::has_port;

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

/// The address to load (and the embedded server, if one was started), checked to answer.
pub(crate) fn open(
    cfg: &BenchConfig,
) -> Result<(SocketAddr, Option<nines_server::ServerHandle>), RunError> {
    let (addr, server) = match &cfg.target {
        Target::Address(t) => (resolve(t)?, None),
        Target::Embedded { server_workers } => {
            let s = start_embedded(&cfg.request, *server_workers)?;
            (s.local_addr(), Some(s))
        }
    };
    TcpStream::connect_timeout(&addr, cfg.connect_timeout)
        .map_err(|source| RunError::Connect { addr, source })?;
    Ok((addr, server))
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
}
