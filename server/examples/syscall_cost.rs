//! What glibc's pthread-cancellation bracket costs a socket call: a read through std (glibc's
//! `recv`) against the same recvfrom(2) made directly (rustix, as server/src/sock.rs reads), on
//! a non-blocking TCP socket with nothing to read, so each call is one system call that returns
//! EAGAIN. glibc brackets the call only once the process has a second thread, so both are timed
//! first with this thread alone, then with another one alive (nines-server always has its
//! acceptor). See docs/results/flame.md.
//!
//! Usage: cargo run --release --example syscall_cost [-- ROUNDS]

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use rustix::net::RecvFlags;

const CALLS: u32 = 200_000;

/// ns per call of `f` over CALLS calls.
fn per_call(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..CALLS {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(CALLS)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Medians over `rounds` of (glibc recv, direct recvfrom, paired difference), in ns per call,
/// the two alternating which goes first.
fn measure(sock: &TcpStream, rounds: usize) -> (f64, f64, f64) {
    let mut buf = [0u8; 64];
    let mut glibc = || {
        let r = (&*sock).read(&mut buf);
        assert_eq!(r.map_err(|e| e.kind()), Err(ErrorKind::WouldBlock));
    };
    let mut direct_buf = [0u8; 64];
    let mut direct = || {
        let r = rustix::net::recv(sock, &mut direct_buf[..], RecvFlags::empty());
        assert_eq!(r.err(), Some(rustix::io::Errno::AGAIN));
    };
    let (mut g, mut d, mut diff) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let a = per_call(&mut glibc);
            (a, per_call(&mut direct))
        } else {
            let b = per_call(&mut direct);
            (per_call(&mut glibc), b)
        };
        g.push(a);
        d.push(b);
        diff.push(a - b);
    }
    (median(g), median(d), median(diff))
}

fn main() {
    let rounds = std::env::args()
        .nth(1)
        .map_or(41, |s| s.parse().expect("ROUNDS: a number"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let _peer = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (sock, _) = listener.accept().expect("accept");
    sock.set_nonblocking(true).unwrap();

    let (g, d, diff) = measure(&sock, rounds);
    println!("one thread:  glibc recv {g:.1} ns, direct recvfrom {d:.1} ns, difference {diff:.1} ns per call (medians of {rounds} x {CALLS})");
    let (stop, parked) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || parked.recv());
    let (g, d, diff) = measure(&sock, rounds);
    println!("two threads: glibc recv {g:.1} ns, direct recvfrom {d:.1} ns, difference {diff:.1} ns per call (medians of {rounds} x {CALLS})");
    drop(stop);
    let _ = other.join();
}
