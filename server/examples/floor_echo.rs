//! The floor: the simplest correct mio echo server, one thread, nothing else.
//!
//! scripts/bench-core.sh runs `nines-server --protocol echo --workers 1` against this under the
//! same load; whatever nines-server costs beyond it is overhead to justify or remove. It is
//! deliberately plain: one poll, a Vec of connections indexed by token, one shared read buffer,
//! write back what was read, keep the unsent rest for WRITABLE.
//!
//! Usage: cargo run --release --example floor_echo -- [PORT]   (0 = pick one; prints it)

use std::io::{self, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
}

fn main() -> io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let mut listener = TcpListener::bind(([127, 0, 0, 1], port).into())?;
    println!("floor listening on {}", listener.local_addr()?);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        poll.poll(&mut events, None)?;
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            stream.set_nodelay(true)?;
                            let i = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            poll.registry().register(
                                &mut stream,
                                Token(i),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            conns[i] = Some(Conn {
                                stream,
                                pending: Vec::new(),
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            eprintln!("accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let i = ev.token().0;
            let Some(Some(c)) = conns.get_mut(i) else {
                continue;
            };
            if !serve(c, &mut buf) {
                conns[i] = None;
                free.push(i);
            }
        }
    }
}

/// Echoes what is readable; false when the connection is finished.
fn serve(c: &mut Conn, buf: &mut [u8]) -> bool {
    if !c.pending.is_empty() {
        match c.stream.write(&c.pending) {
            Ok(n) => {
                c.pending.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
        if !c.pending.is_empty() {
            return true;
        }
    }
    loop {
        match c.stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => match c.stream.write(&buf[..n]) {
                Ok(w) if w == n => {}
                Ok(w) => {
                    c.pending.extend_from_slice(&buf[w..n]);
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.pending.extend_from_slice(&buf[..n]);
                    return true;
                }
                Err(_) => return false,
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}
