//! The transport under a connection: plain TCP or TLS over it. Codecs see bytes either way;
//! only this layer knows that TLS exists.
//!
//! - [`TlsClient`] (client.rs): the run's TLS settings, built once (roots, client certificate,
//!   versions, SNI, the shared session cache) from [`crate::config::TlsOptions`];
//! - [`TlsStream`] (stream.rs): one nonblocking TLS session over a mio socket, with the same
//!   read/write contract as the socket (a short read means the socket is drained);
//! - [`Failure`] (failure.rs): what went wrong in a handshake, by kind, in one line;
//! - [`probe`] (probe.rs): one blocking handshake before a run, so a certificate that does not
//!   verify is one clear line, not a failure per connection.

mod client;
mod failure;
pub mod probe;
mod stream;

pub use client::TlsClient;
pub use failure::{Failure, FailureKind};
pub use stream::{Handshake, TlsStream};

use std::io::{self, Read, Write};

use mio::net::TcpStream;

/// A connected socket, plain or TLS.
#[derive(Debug)]
pub enum Transport {
    /// Bytes as they are on the wire.
    Plain(TcpStream),
    /// A TLS session over the socket (boxed: its state is several KiB, plain sockets stay small).
    Tls(Box<TlsStream>),
}

impl Transport {
    /// The socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => t.tcp(),
        }
    }
}

impl Read for Transport {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Transport {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(t) => t.write(buf),
        }
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        match self {
            // Nothing is held above the socket.
            Transport::Plain(_) => Ok(()),
            Transport::Tls(t) => t.flush(),
        }
    }
}
