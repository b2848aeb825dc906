//! The socket under every connection: mio's `TcpStream`, read and written with recvfrom(2) and
//! sendto(2) made directly (rustix), not through glibc's `recv` and `send`.
//!
//! glibc makes `recv` and `send` (like `read`, `write` and every call that can block) pthread
//! cancellation points: in a process with more than one thread, and nines-server always has its
//! acceptor beside its workers, each call is bracketed by `__pthread_enable_asynccancel` and
//! `__pthread_disable_asynccancel`, a locked compare-exchange each on the thread's cancellation
//! state, for a `pthread_cancel` Rust never calls. A single-threaded C epoll server, the floor
//! nines-server is held to, skips the bracket; nines-server paid it on every read and every
//! write: 30-50 ns a call on the test VM (examples/syscall_cost.rs), and in the flame graphs
//! as many of the worker's samples as all of nines-server's own code under echo load
//! (docs/results/flame.md). The same system calls made directly cost what a single-threaded
//! process's `recv` costs.
//!
//! Both go through the socket's `try_io`, as mio's own `read` and `write` do: a pass-through on
//! Linux's epoll, and what keeps a selector that holds state right.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use mio::net::TcpStream;
use rustix::net::{RecvFlags, SendFlags};

/// An accepted TCP connection's socket.
#[derive(Debug)]
pub(crate) struct Sock(TcpStream);

impl Sock {
    pub fn new(stream: TcpStream) -> Sock {
        Sock(stream)
    }
}

impl Read for Sock {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let sock = &self.0;
        sock.try_io(|| Ok(rustix::net::recv(sock, buf, RecvFlags::empty())?.0))
    }
}

impl Write for Sock {
    /// As std's `TcpStream` sends: with MSG_NOSIGNAL, so a client gone is EPIPE, never SIGPIPE.
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let sock = &self.0;
        sock.try_io(|| Ok(rustix::net::send(sock, buf, SendFlags::NOSIGNAL)?))
    }

    /// Nothing is held here: what `write` took is the kernel's.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl mio::event::Source for Sock {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.0.register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.0.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        self.0.deregister(registry)
    }
}

impl AsFd for Sock {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(test)]
#[path = "sock_tests.rs"]
mod tests;
