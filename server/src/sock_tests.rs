//! The direct socket against a real loopback TCP peer: what a connection relies on from its
//! socket (bytes in order, WouldBlock when drained, 0 at the peer's FIN, an error rather than a
//! signal once the peer is gone, and events through the poll it is registered with).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::time::Duration;

use mio::{Events, Interest, Poll, Token};

use super::*;

/// A server-side `Sock` (non-blocking, as accepted sockets are) and its blocking peer.
fn pair() -> (Sock, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    accepted.set_nonblocking(true).unwrap();
    (Sock::new(TcpStream::from_std(accepted)), peer)
}

/// Reads from `sock` until `want` bytes came, waiting on `poll` (registered readable) between.
fn read_exactly(sock: &mut Sock, poll: &mut Poll, want: usize) -> Vec<u8> {
    let mut events = Events::with_capacity(4);
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while got.len() < want {
        match sock.read(&mut buf) {
            Ok(0) => panic!("EOF after {} of {want} bytes", got.len()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                poll.poll(&mut events, Some(Duration::from_secs(5)))
                    .unwrap();
                assert!(!events.is_empty(), "no readable event within 5 s");
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }
    got
}

/// The peer's bytes come back in order, a drained socket says WouldBlock (not 0, not an
/// error), and the peer's FIN reads as 0, after the bytes before it; the socket's events come
/// through the poll it was registered with.
#[test]
fn reads_bytes_then_would_block_then_eof() {
    let (mut sock, mut peer) = pair();
    let mut poll = Poll::new().unwrap();
    poll.registry()
        .register(&mut sock, Token(7), Interest::READABLE)
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        sock.read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );

    peer.write_all(b"hello, nines").unwrap();
    assert_eq!(read_exactly(&mut sock, &mut poll, 12), b"hello, nines");
    assert_eq!(
        sock.read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );

    peer.write_all(b"last").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_exactly(&mut sock, &mut poll, 4), b"last");
    let mut events = Events::with_capacity(4);
    loop {
        match sock.read(&mut buf) {
            Ok(n) => {
                assert_eq!(n, 0, "no bytes after the FIN");
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                poll.poll(&mut events, Some(Duration::from_secs(5)))
                    .unwrap();
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// What `write` takes reaches the peer whole and in order; `flush` holds nothing back.
#[test]
fn writes_reach_the_peer() {
    let (mut sock, mut peer) = pair();
    let reply: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    while sent < reply.len() {
        sent += sock.write(&reply[sent..]).unwrap();
    }
    sock.flush().unwrap();
    let mut got = vec![0u8; reply.len()];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(got, reply);
}

/// Once the peer is gone (closed with bytes unread, so it answers with a reset), writing is an
/// error the connection can close on — EPIPE or ECONNRESET — and the process carries on.
#[test]
fn writing_to_a_peer_gone_is_an_error() {
    let (mut sock, peer) = pair();
    sock.write_all(b"unread").unwrap();
    drop(peer);
    let mut first_error = None;
    for _ in 0..200 {
        match sock.write(b"more") {
            Ok(_) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => {
                first_error = Some(e.kind());
                break;
            }
        }
    }
    let kind = first_error.expect("no error writing to a closed peer within 1 s");
    assert!(
        matches!(
            kind,
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ),
        "unexpected error kind {kind:?}"
    );
}
