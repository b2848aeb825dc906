//! Connecting a [`Conn`] over TCP: the one part of a connection that needs the real socket
//! (a nonblocking connect from `--source`, its mio registration, and mio's recipe for telling
//! how it went). Once connected, the connection is the same whatever its stream.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use mio::{Interest, Registry, Token};

use super::{Conn, Connecting, Opened, State};
use crate::config::Picker;
use crate::target::Codec;
use crate::transport::{TlsClient, TlsStream, Transport};

/// Where a connection goes and how: the address, and the TLS client for TLS targets.
#[derive(Debug, Clone)]
pub(crate) struct Dial {
    pub addr: SocketAddr,
    pub tls: Option<Arc<TlsClient>>,
}

impl Conn<Transport> {
    /// Starts a nonblocking connect to `dial`, registered under `token`, begun at `now` on the
    /// run clock. A connection that could not even be started is returned closed, with the
    /// error.
    pub(crate) fn connect(
        dial: &Dial,
        token: Token,
        registry: &Registry,
        codec: (Box<dyn Codec>, Picker),
        now: u64,
    ) -> (Conn, Option<io::Error>) {
        Conn::connect_from(dial, None, token, registry, codec, now)
    }

    /// [`Conn::connect`] from local address `source` (if given).
    pub(crate) fn connect_from(
        dial: &Dial,
        source: Option<IpAddr>,
        token: Token,
        registry: &Registry,
        codec: (Box<dyn Codec>, Picker),
        now: u64,
    ) -> (Conn, Option<io::Error>) {
        let mut conn = Conn::new(dial.addr, source, token, codec, now);
        conn.tls.clone_from(&dial.tls);
        let err = conn.start_connect(registry).err();
        (conn, err)
    }

    /// Connects again after the server closed the connection as it said it would, at `now`,
    /// keeping the requests it never answered for [`Conn::resend`]. On failure the connection
    /// stays closed.
    pub(crate) fn reconnect(&mut self, registry: &Registry, now: u64) -> io::Result<()> {
        self.keep_requests_for_reconnect(now);
        self.start_connect(registry)
    }

    fn start_connect(&mut self, registry: &Registry) -> io::Result<()> {
        let (addr, token) = (self.addr, self.token);
        let started = crate::engine::socket::connect(addr, self.source).and_then(|mut s| {
            // Without it, Nagle's algorithm holds a request written while an earlier one on the
            // connection is unacknowledged until that ACK arrives (with the earlier reply, if
            // the server delays its ACKs): pipelined and open-loop requests would leave late,
            // and be timed from when they were written, not sent.
            s.set_nodelay(true)?;
            registry.register(&mut s, token, Interest::READABLE | Interest::WRITABLE)?;
            Ok(s)
        });
        self.state = State::Connecting(Transport::Plain(started?));
        self.opened = Opened::default();
        Ok(())
    }

    /// Moves a connecting (or handshaking) connection on after an event at `now`.
    pub(crate) fn poll_connect(&mut self, now: u64) -> Connecting {
        match self.state {
            State::Connecting(_) => self.poll_tcp_connect(now),
            State::Securing(_) => self.poll_tls(),
            State::Starting(_) => self.poll_handshake(),
            State::Open(_) | State::Closed => Connecting::Pending,
        }
    }

    /// TCP is up: starts TLS over it for a TLS target, else opens the connection.
    fn tcp_up(&mut self, stream: Transport) -> Connecting {
        let (Some(client), Transport::Plain(tcp)) = (&self.tls, stream) else {
            unreachable!("a connecting socket is plain TCP")
        };
        match TlsStream::new(tcp, client) {
            Ok(tls) => {
                self.state = State::Securing(Transport::Tls(Box::new(tls)));
                self.poll_tls()
            }
            Err(f) => Connecting::TlsFailed(f),
        }
    }

    /// Moves the TLS handshake on; once done, the protocol's own opening follows.
    fn poll_tls(&mut self) -> Connecting {
        let State::Securing(Transport::Tls(tls)) = &mut self.state else {
            return Connecting::Pending;
        };
        match tls.handshake() {
            Ok(None) => Connecting::Pending,
            Ok(Some(done)) => {
                self.opened.tls = Some(done);
                let State::Securing(s) = std::mem::replace(&mut self.state, State::Closed) else {
                    unreachable!("checked above");
                };
                self.established(s)
            }
            Err(f) => {
                self.close();
                Connecting::TlsFailed(f)
            }
        }
    }

    /// Checks a connecting socket after an event (mio's recipe: an error is reported by
    /// `take_error`, success by `peer_addr`; `NotConnected` means the event came early).
    fn poll_tcp_connect(&mut self, now: u64) -> Connecting {
        let State::Connecting(s) = &self.state else {
            return Connecting::Pending;
        };
        let s = s.tcp();
        let result = match s.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match s.peer_addr() {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(false) => Connecting::Pending,
            Ok(true) => {
                let State::Connecting(s) = std::mem::replace(&mut self.state, State::Closed) else {
                    unreachable!("checked above");
                };
                self.opened.tcp_ns = now.saturating_sub(self.connect_started_ns).max(1);
                if self.tls.is_some() {
                    return self.tcp_up(s);
                }
                self.established(s)
            }
            Err(e) => {
                self.state = State::Closed;
                Connecting::Failed(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_send_at_once_without_waiting_for_acks() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let poll = mio::Poll::new().unwrap();
        let dial = Dial {
            addr: listener.local_addr().unwrap(),
            tls: None,
        };
        let (conn, err) = Conn::connect(
            &dial,
            Token(0),
            poll.registry(),
            crate::config::Requests::default().speaker(0),
            0,
        );
        assert!(err.is_none());
        let State::Connecting(s) = &conn.state else {
            panic!("not connecting: {:?}", conn.state);
        };
        assert!(s.tcp().nodelay().unwrap(), "TCP_NODELAY is set");
    }
}
