//! The target of a run: a `host:port` resolved to one address, or nines-server started in this
//! process on 127.0.0.1 — and one blocking connect first, so "nothing is listening there" is one
//! clear error rather than a connect error per connection.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};

use nines_common::DEFAULT_PORT;

use super::RunError;
use crate::config::BenchConfig;
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
/// the protocol of the load, `server_workers` workers.
pub fn start_embedded(cfg: &BenchConfig) -> Result<nines_server::ServerHandle, RunError> {
    let protocol = match cfg.request.protocol {
        nines_common::Protocol::Nines => nines_server::Protocol::Nines,
        nines_common::Protocol::Echo => nines_server::Protocol::Echo,
        nines_common::Protocol::Http => nines_server::Protocol::Http,
        nines_common::Protocol::Ws => nines_server::Protocol::Ws,
        // Validation refuses an embedded server for Redis (config/requests.rs).
        nines_common::Protocol::Redis => {
            let e =
                std::io::Error::new(std::io::ErrorKind::Unsupported, "nines-server has no redis");
            return Err(RunError::Server(e));
        }
    };
    let sc = nines_server::ServerConfig {
        protocol,
        workers: cfg.server_workers.max(1),
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
        Some(t) => (resolve(t)?, None),
        None => {
            let s = start_embedded(cfg)?;
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
