//! The TLS arm of the transport against a real rustls client over a socket pair (non-blocking
//! on the server's side, as the server's sockets are), the client driven step by step in the
//! test's own thread: each test says exactly what crossed the pair and what the server's read,
//! write and flush returned.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::*;
use crate::config::Protocol;

/// A server configuration made by `tls::load` from a fresh self-signed certificate, and a
/// client configuration that trusts it (resumption on, as rustls' default).
fn configs() -> (Arc<rustls::ServerConfig>, Arc<ClientConfig>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("nines-transport-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let tickets = crate::tls::tickets::TicketSeed::random().unwrap();
    let server = crate::tls::load(&cert, &key, Protocol::Echo, tickets).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let client = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    (server, Arc::new(client))
}

/// The server's transport on one end of a pair, the client's socket on the other.
struct Pair {
    server: Transport<UnixStream>,
    sock: UnixStream,
    client: ClientConnection,
}

impl Pair {
    fn new(server: &Arc<rustls::ServerConfig>, client: &Arc<ClientConfig>) -> Pair {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        Pair {
            server: Transport::new(a, Some(server)).unwrap(),
            sock: b,
            client: ClientConnection::new(client.clone(), name).unwrap(),
        }
    }

    /// Sends what the client has to send.
    fn client_sends(&mut self) {
        while self.client.wants_write() {
            self.client.write_tls(&mut self.sock).unwrap();
        }
    }

    /// Takes what the server sent into the client; the client's plaintext.
    fn client_receives(&mut self) -> Vec<u8> {
        let mut plain = Vec::new();
        loop {
            match self.client.read_tls(&mut self.sock) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("client read_tls: {e}"),
            }
            self.client.process_new_packets().unwrap();
            let _ = self.client.reader().read_to_end(&mut plain);
        }
        plain
    }

    /// Runs the handshake to its end on both sides; the server's reads say WouldBlock
    /// throughout (no plaintext yet).
    fn handshake(&mut self) {
        let mut buf = [0u8; 64];
        for _ in 0..10 {
            self.client_sends();
            let r = self.server.read(&mut buf);
            assert_eq!(r.unwrap_err().kind(), io::ErrorKind::WouldBlock);
            self.client_receives();
            if !self.client.is_handshaking() && !self.server.opening() {
                return;
            }
        }
        panic!("the handshake did not finish");
    }
}

#[test]
fn the_handshake_is_an_opening_then_a_full_setup_then_a_resumed_one() {
    let (server, client) = configs();
    let mut first = Pair::new(&server, &client);
    assert!(first.server.opening());
    first.handshake();
    assert_eq!(first.server.setup(), Some(Setup::Full));
    assert_eq!(first.server.setup(), None, "told once");
    // The client takes its tickets (sent after the handshake) before it goes.
    first.client_receives();
    let mut second = Pair::new(&server, &client);
    second.handshake();
    assert_eq!(second.server.setup(), Some(Setup::Resumed));
    assert_eq!(second.server.held(), 0, "every handshake byte was sent");
}

#[test]
fn a_read_fills_the_buffer_across_records_and_a_short_read_means_drained() {
    let (server, client) = configs();
    let mut p = Pair::new(&server, &client);
    p.handshake();
    // Three records of 1000 bytes, all on the socket at once.
    for i in 0..3u8 {
        p.client.writer().write_all(&[i; 1000]).unwrap();
    }
    p.client_sends();
    let mut buf = [0u8; 1500];
    assert_eq!(p.server.read(&mut buf).unwrap(), 1500, "full: read again");
    assert_eq!(&buf[..1000], &[0u8; 1000][..]);
    assert_eq!(&buf[1000..], &[1u8; 500][..]);
    assert_eq!(p.server.read(&mut buf).unwrap(), 1500, "the rest, exactly");
    let mut big = [0u8; 4096];
    let e = p.server.read(&mut big).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "drained");
    // More records than one read buffer: a short read only once the socket is empty.
    for i in 0..3u8 {
        p.client.writer().write_all(&[i; 1000]).unwrap();
    }
    p.client_sends();
    assert_eq!(p.server.read(&mut big).unwrap(), 3000);
    assert_eq!(
        p.server.read(&mut big).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    // The client's close_notify is EOF, answered with the server's own.
    p.client.send_close_notify();
    p.client_sends();
    assert_eq!(p.server.read(&mut big).unwrap(), 0);
    p.client_receives();
    assert_eq!(
        p.client.reader().read(&mut big).unwrap(),
        0,
        "the server's close_notify"
    );
}

#[test]
fn a_connection_the_server_ends_says_close_notify() {
    let (server, client) = configs();
    let mut p = Pair::new(&server, &client);
    p.handshake();
    p.server.finish();
    assert!(p.client_receives().is_empty());
    let mut buf = [0u8; 16];
    assert_eq!(
        p.client.reader().read(&mut buf).unwrap(),
        0,
        "a clean end, not a cut"
    );
}

#[test]
fn writes_wait_for_earlier_records_and_hold_a_bounded_amount() {
    let (server, client) = configs();
    let mut p = Pair::new(&server, &client);
    p.handshake();
    p.client_receives(); // The tickets.
    let reply = vec![7u8; 4 << 20];
    let mut accepted = 0;
    let blocked = loop {
        match p.server.write(&reply[accepted..]) {
            Ok(n) => {
                assert!(n > 0 && n <= TLS_WRITE_CHUNK, "a bounded chunk: {n}");
                accepted += n;
            }
            Err(e) => break e,
        }
    };
    assert_eq!(blocked.kind(), io::ErrorKind::WouldBlock);
    let held = p.server.held();
    assert!(
        held > 0 && held <= TLS_WRITE_CHUNK + 1024,
        "records held: {held}"
    );
    assert_eq!(
        p.server.flush().unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    // The client reads; the server's flush finishes the records, and every accepted byte
    // arrives once.
    let mut got = 0;
    loop {
        got += p.client_receives().len();
        if p.server.flush().is_ok() {
            got += p.client_receives().len();
            break;
        }
    }
    assert_eq!(p.server.held(), 0);
    assert_eq!(got, accepted);
}

#[test]
fn garbage_instead_of_a_client_hello_fails_the_setup_with_an_alert() {
    let (server, client) = configs();
    let mut p = Pair::new(&server, &client);
    p.sock
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    let e = p.server.read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert_eq!(p.server.setup(), Some(Setup::Failed));
    assert!(!p.server.opening(), "no longer a handshake in progress");
    let mut alert = [0u8; 16];
    let n = p.sock.read(&mut alert).unwrap();
    assert!(n >= 7, "an alert record: {:?}", &alert[..n]);
    assert_eq!(alert[0], 0x15, "content type alert");
}

#[test]
fn plain_is_the_socket_itself() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let mut t = Transport::new(a, None).unwrap();
    t.write_all(b"ping").unwrap();
    t.flush().unwrap();
    let mut got = [0u8; 4];
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    assert_eq!((t.held(), t.opening(), t.setup()), (0, false, None));
}

#[test]
fn record_edges_are_followed_however_the_bytes_are_cut() {
    // Three records: bodies of 3, 0 and 300 bytes.
    let mut stream = Vec::new();
    for len in [3u16, 0, 300] {
        stream.extend_from_slice(&[23, 3, 3]);
        stream.extend_from_slice(&len.to_be_bytes());
        stream.extend(std::iter::repeat_n(0xAA, usize::from(len)));
    }
    let ends = [8, 13, stream.len()];
    for cut in 1..=stream.len() {
        let mut edge = RecordEdge::default();
        let mut at = 0;
        for piece in stream.chunks(cut) {
            edge.feed(piece);
            at += piece.len();
            assert_eq!(
                edge.inside(),
                !ends.contains(&at),
                "pieces of {cut}: after {at} bytes"
            );
        }
    }
}
