//! A small blocking TLS client (rustls, as the server) for the tests of nines-server's TLS:
//! it trusts the test CA, speaks nines frames, and reads the counters over TLS (a server with
//! --tls-cert speaks nothing else).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nines_protocol::{decode, encode, Header, Op};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// nines-server with TLS on `cert` and `key`: one worker, `model`, and `extra` flags.
pub fn start(cert: &Path, key: &Path, model: &str, extra: &[&str]) -> super::ServerProc {
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let mut args = vec!["--workers", "1", "--model", model];
    args.extend_from_slice(&["--tls-cert", cert, "--tls-key", key]);
    args.extend_from_slice(extra);
    super::ServerProc::start(&args)
}

/// A TLS connection to the server.
pub type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A client configuration that trusts the CA in `ca` (PEM), TLS 1.2 and 1.3, resumption on
/// (rustls' default: sessions are kept in the configuration, so a second connection made with
/// the same one resumes).
pub fn client_config(ca: &Path) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Connects to `addr` as `localhost` and finishes the handshake.
pub fn connect(addr: SocketAddr, config: &Arc<ClientConfig>) -> Tls {
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(config.clone(), name).unwrap();
    let mut tls = StreamOwned::new(conn, sock);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).expect("TLS handshake");
    }
    tls
}

/// Sends one nines request and returns its reply (header and payload).
pub fn round_trip(tls: &mut Tls, header: Header, payload: &[u8]) -> (Header, Vec<u8>) {
    let mut frame = Vec::new();
    encode(&header, payload, &mut frame);
    tls.write_all(&frame).unwrap();
    tls.flush().unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some((f, _)) = decode(&buf, 64 << 20).unwrap() {
            return (f.header, f.payload.to_vec());
        }
        let n = tls.read(&mut chunk).expect("a reply in time");
        assert!(n > 0, "the server closed before replying");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Echoes `payload` over `tls` as request `id`, checking the reply is its own.
pub fn echo(tls: &mut Tls, id: u64, payload: &[u8]) {
    let (h, back) = round_trip(tls, Header::request(Op::Echo, id), payload);
    assert_eq!((h.op, h.request_id), (Op::Echo, id));
    assert_eq!(back, payload);
}

/// The server's counters, asked over a fresh TLS connection (a full or resumed handshake,
/// counted like any other).
pub fn stats(addr: SocketAddr, config: &Arc<ClientConfig>) -> Vec<(String, u64)> {
    let mut tls = connect(addr, config);
    let (_, payload) = round_trip(&mut tls, Header::request(Op::Stats, 1), &[]);
    nines_protocol::stats::parse(&payload).unwrap()
}

/// Asks for the counters over TLS until `done` holds; fails naming `what` after 30 s.
pub fn wait_for_stats(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    what: &str,
    done: impl Fn(&[(String, u64)]) -> bool,
) {
    let deadline = Instant::now() + super::WAIT_LIMIT;
    loop {
        let counters = stats(addr, config);
        if done(&counters) {
            return;
        }
        if Instant::now() >= deadline {
            let counters = super::nonzero(&counters);
            panic!("timed out waiting for {what}; the server's counters: {counters}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
