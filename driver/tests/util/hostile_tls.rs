//! Servers that break a TLS handshake on purpose, for the driver's failure tests: one that
//! never answers the ClientHello (a stall, as a server whose TLS layer hangs), one that answers
//! it with bytes that are no TLS record, one that answers in plain HTTP (what a user meets who
//! points https:// at a plain port). No TLS library is involved: what they send is fixed here.
//!
//! One std thread serves every connection over non-blocking sockets and counts what clients
//! did (connected, sent a ClientHello, closed), so a test can wait for the driver to give up
//! on a stalled handshake instead of sleeping. The thread stops on drop, and in any case after
//! [`LIFETIME`]; at most [`MAX_CONNECTIONS`] are held at once (more are accepted and closed).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a hostile peer does once a client has sent its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// Reads and never writes; holds the connection until the client closes it.
    Stall,
    /// Answers with [`GARBAGE`] and holds the connection (no FIN: the client must see the
    /// bytes are wrong, not wait for more).
    Garbage,
    /// Answers with [`PLAIN_HTTP`], then closes its side, as nginx does on a plain port.
    PlainHttp,
}

/// Where a ServerHello belongs: content type 0x00 is no TLS record, nor any text.
pub const GARBAGE: &[u8] = b"\x00\x01\x02\x03\xfe\xff this is not a ServerHello \x00\xff\x00\xff";

/// What a plain HTTP/1.1 server answers to a ClientHello it cannot parse.
pub const PLAIN_HTTP: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n\
Content-Length: 50\r\nConnection: close\r\n\r\n\
<html><body><h1>400 Bad Request</h1></body></html>";

/// The longest a hostile peer serves, even if never dropped.
pub const LIFETIME: Duration = Duration::from_secs(300);
/// The most connections held at once.
pub const MAX_CONNECTIONS: usize = 4096;

#[derive(Debug, Default)]
struct Counts {
    accepted: AtomicU64,
    client_hellos: AtomicU64,
    closed_by_client: AtomicU64,
}

/// A hostile TLS peer on 127.0.0.1, stopped on drop.
pub struct HostileTls {
    pub addr: SocketAddr,
    pub kind: Hostile,
    counts: Arc<Counts>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HostileTls {
    pub fn start(kind: Hostile) -> HostileTls {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = {
            let (counts, stopping) = (counts.clone(), stopping.clone());
            std::thread::Builder::new()
                .name(format!("hostile-tls-{kind:?}"))
                .spawn(move || serve(listener, kind, &counts, &stopping))
                .unwrap()
        };
        HostileTls {
            addr,
            kind,
            counts,
            stopping,
            thread: Some(thread),
        }
    }

    /// TCP connections accepted.
    pub fn accepted(&self) -> u64 {
        self.counts.accepted.load(Ordering::Relaxed)
    }

    /// Connections whose first bytes were a TLS handshake record (a ClientHello, in practice).
    pub fn client_hellos(&self) -> u64 {
        self.counts.client_hellos.load(Ordering::Relaxed)
    }

    /// Connections the client closed (FIN or reset) while the peer still held them.
    pub fn closed_by_client(&self) -> u64 {
        self.counts.closed_by_client.load(Ordering::Relaxed)
    }

    /// Waits up to `within` for `done(self)`; whether it came true.
    pub fn wait_until(&self, within: Duration, mut done: impl FnMut(&HostileTls) -> bool) -> bool {
        let deadline = Instant::now() + within;
        while !done(self) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

impl Drop for HostileTls {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One connection: its socket, whether it has sent anything, whether it was answered.
struct Held {
    stream: TcpStream,
    heard: bool,
    answered: bool,
}

fn serve(listener: TcpListener, kind: Hostile, counts: &Counts, stopping: &AtomicBool) {
    let started = Instant::now();
    let mut held: Vec<Held> = Vec::new();
    while !stopping.load(Ordering::Relaxed) && started.elapsed() < LIFETIME {
        // Bounded by the backlog: each accept takes one queued connection.
        while let Ok((stream, _)) = listener.accept() {
            counts.accepted.fetch_add(1, Ordering::Relaxed);
            if held.len() < MAX_CONNECTIONS && stream.set_nonblocking(true).is_ok() {
                held.push(Held {
                    stream,
                    heard: false,
                    answered: false,
                });
            }
        }
        held.retain_mut(|c| step(c, kind, counts));
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Reads what `c` has sent and answers once as `kind` says; false when the client has gone.
fn step(c: &mut Held, kind: Hostile, counts: &Counts) -> bool {
    let mut buf = [0u8; 16 * 1024];
    // Up to WouldBlock, or 16 reads: a client that never stops sending cannot hold the thread.
    for _ in 0..16 {
        match c.stream.read(&mut buf) {
            Ok(0) => {
                counts.closed_by_client.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            Ok(n) => {
                // A TLS handshake record: content type 22, then version 3.x.
                if !c.heard && n >= 2 && buf[0] == 0x16 && buf[1] == 0x03 {
                    counts.client_hellos.fetch_add(1, Ordering::Relaxed);
                }
                c.heard = true;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => {
                counts.closed_by_client.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        }
    }
    if c.heard && !c.answered {
        c.answered = true;
        // A fresh socket's send buffer takes these few bytes whole.
        match kind {
            Hostile::Stall => {}
            Hostile::Garbage => {
                let _ = c.stream.write_all(GARBAGE);
            }
            Hostile::PlainHttp => {
                let _ = c.stream.write_all(PLAIN_HTTP);
                // FIN after the reply, and the socket kept until the client closes: closing
                // with its bytes unread would send a reset that can destroy the reply.
                let _ = c.stream.shutdown(Shutdown::Write);
            }
        }
    }
    true
}
