//! Opening a connection once its stream is up: the protocol's own handshake (a WebSocket
//! upgrade), if it has one, before the connection takes requests. (TCP and TLS come before
//! this, in tcp.rs; a scripted stream in the tests starts here.)

use std::io;

use super::{Conn, Connecting, State, Stream, READ_BUFFER_FULL};

impl<S: Stream> Conn<S> {
    /// The stream is connected: opens the connection, with the protocol's handshake if it has
    /// one.
    pub(super) fn established(&mut self, stream: S) -> Connecting {
        if !self.codec.start(&mut self.wbuf) {
            self.state = State::Open(stream);
            return Connecting::Established(self.opened);
        }
        self.state = State::Starting(stream);
        if let Err(lost) = self.flush() {
            return Connecting::Failed(io::Error::other(format!("{:?}", lost.cause)));
        }
        // The reply may already be here.
        self.poll_handshake()
    }

    /// Reads the handshake reply as far as it has come.
    pub(super) fn poll_handshake(&mut self) -> Connecting {
        if let Err(lost) = self.flush() {
            return Connecting::Failed(io::Error::other(format!("{:?}", lost.cause)));
        }
        loop {
            if self.rlen == self.rbuf.len() && !self.grow_read_buffer(self.read_cap) {
                self.close();
                return Connecting::Refused(READ_BUFFER_FULL);
            }
            let State::Starting(stream) = &mut self.state else {
                return Connecting::Pending;
            };
            match stream.read(&mut self.rbuf[self.rlen..]) {
                Ok(0) => {
                    self.close();
                    return Connecting::Failed(io::ErrorKind::ConnectionReset.into());
                }
                Ok(n) => {
                    self.rlen += n;
                    self.received_bytes += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Connecting::Pending,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.close();
                    return Connecting::Failed(e);
                }
            }
            match self.codec.finish_start(&self.rbuf[..self.rlen]) {
                Ok(None) => {}
                Ok(Some(used)) => {
                    self.rbuf.copy_within(used..self.rlen, 0);
                    self.rlen -= used;
                    let State::Starting(s) = std::mem::replace(&mut self.state, State::Closed)
                    else {
                        unreachable!("checked above");
                    };
                    self.state = State::Open(s);
                    return Connecting::Established(self.opened);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "handshake refused");
                    self.close();
                    return Connecting::Refused(e.kind);
                }
            }
        }
    }
}
