//! Connecting a [`Conn`] over TCP: the one part of a connection that needs the real socket
//! (a nonblocking connect from `--source`, its mio registration, and mio's recipe for telling
//! how it went). Once connected, the connection is the same whatever its stream.

use std::io;
use std::net::{IpAddr, SocketAddr};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::{Conn, Connecting, State};
use crate::target::Codec;

impl Conn<TcpStream> {
    /// Starts a nonblocking connect to `addr`, registered under `token`. A connection that
    /// could not even be started is returned closed, with the error.
    pub(crate) fn connect(
        addr: SocketAddr,
        token: Token,
        registry: &Registry,
        codec: Box<dyn Codec>,
    ) -> (Conn, Option<io::Error>) {
        Conn::connect_from(addr, None, token, registry, codec, 0)
    }

    /// [`Conn::connect`] from local address `source` (if given), begun at `now` on the run
    /// clock.
    pub(crate) fn connect_from(
        addr: SocketAddr,
        source: Option<IpAddr>,
        token: Token,
        registry: &Registry,
        codec: Box<dyn Codec>,
        now: u64,
    ) -> (Conn, Option<io::Error>) {
        let mut conn = Conn::new(addr, source, token, codec, now);
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
        self.state = State::Connecting(started?);
        Ok(())
    }

    /// Moves a connecting (or handshaking) connection on after an event.
    pub(crate) fn poll_connect(&mut self) -> Connecting {
        match self.state {
            State::Connecting(_) => self.poll_tcp_connect(),
            State::Starting(_) => self.poll_handshake(),
            State::Open(_) | State::Closed => Connecting::Pending,
        }
    }

    /// Checks a connecting socket after an event (mio's recipe: an error is reported by
    /// `take_error`, success by `peer_addr`; `NotConnected` means the event came early).
    fn poll_tcp_connect(&mut self) -> Connecting {
        let State::Connecting(s) = &self.state else {
            return Connecting::Pending;
        };
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
    use crate::config::RequestSpec;

    #[test]
    fn connections_send_at_once_without_waiting_for_acks() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let poll = mio::Poll::new().unwrap();
        let (conn, err) = Conn::connect(
            listener.local_addr().unwrap(),
            Token(0),
            poll.registry(),
            RequestSpec::default().codec(),
        );
        assert!(err.is_none());
        let State::Connecting(s) = &conn.state else {
            panic!("not connecting: {:?}", conn.state);
        };
        assert!(s.nodelay().unwrap(), "TCP_NODELAY is set");
    }
}
