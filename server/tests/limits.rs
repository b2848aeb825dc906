//! Limits under hostile or heavy conditions, on the real binary: a client that never reads its
//! replies (backpressure), and a server out of descriptors (EMFILE back-off without spinning).

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nines_protocol::{decode, payload, Op, HEADER_LEN};
use util::{
    cpu_seconds, get, request, rss_kib, stats, wait_for_stats, wait_until, Counters, ServerProc,
    WAIT_LIMIT,
};

#[test]
fn a_client_that_does_not_read_is_held_back_and_loses_nothing() {
    const N: u64 = 200;
    const REPLY: u32 = 256 * 1024;
    let server = ServerProc::start(&["--workers", "1", "--write-high-water", "64k"]);
    let mut hog = TcpStream::connect(server.addr).unwrap();
    let mut all = Vec::new();
    for id in 0..N {
        all.extend(request(Op::Source, id, REPLY));
    }
    // 8 KB of requests asking for 50 MB of replies, and then not reading.
    hog.write_all(&all).unwrap();
    // Once the first reply is produced the hog's replies back up; not reading them for a
    // while is the test.
    let queries = wait_for_stats(
        server.addr,
        "the server to start on the hog's requests",
        |s, q| get(s, "requests") >= q,
    );
    std::thread::sleep(Duration::from_millis(700));
    // Another connection on the same worker is still served, and the server stopped reading the
    // hog's requests once its replies backed up.
    let st = stats(server.addr);
    // Less what the Stats queries sent (this one's request is read, not yet counted).
    let read = get(&st, "bytes_in") - (queries + 1) * HEADER_LEN as u64;
    assert!(
        read < N * HEADER_LEN as u64,
        "server read {read} bytes: it kept reading from a client that does not read"
    );
    assert!(get(&st, "requests") - queries < N);
    let rss = rss_kib(server.child.id());
    assert!(
        rss < 64 * 1024,
        "server RSS {rss} KiB: replies were buffered without bound"
    );
    // Now read everything: every reply arrives, complete and correct.
    hog.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 1 << 20];
    let mut got = 0u64;
    while got < N {
        let n = hog.read(&mut chunk).expect("replies keep coming");
        assert!(n > 0, "server closed the connection after {got} replies");
        buf.extend_from_slice(&chunk[..n]);
        let mut used = 0;
        while let Some((f, len)) = decode(&buf[used..], 2 << 20).unwrap() {
            assert_eq!(f.header.request_id, got);
            assert_eq!(f.payload.len(), REPLY as usize);
            assert!(payload::check(got, f.payload));
            got += 1;
            used += len;
        }
        buf.drain(..used);
    }
    let c = server.stop_and_count();
    // The hog's, and the Stats queries'.
    assert_eq!(c.get("requests"), N + queries + 1);
    assert_eq!(c.get("errors_io"), 0);
}

#[test]
fn out_of_descriptors_backs_off_without_spinning_and_recovers() {
    // Soft and hard RLIMIT_NOFILE of 24, so the server cannot raise it: about a dozen
    // descriptors are left for connections after its own (stdio, epoll, eventfds, listener).
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nines-server"));
    // --max-connections past the descriptor limit, on purpose: without it the server would
    // never let the descriptor limit be what refuses (the point of the limit).
    cmd.args(["--port", "0", "--workers", "1", "--max-connections", "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe and touches only the child's own limits; the
    // closure allocates nothing and runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 24,
                rlim_max: 24,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    let server = ServerProc::from_child(child);
    const CONNS: usize = 30;
    let mut pending: Vec<(usize, TcpStream)> = (0..CONNS)
        .map(|i| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(&request(Op::Echo, i as u64, 0)).unwrap();
            (i, s)
        })
        .collect();
    // Who got an answer before any descriptor was freed. (No Stats query here: it would need
    // a descriptor the server does not have.)
    let mut answered_first = Vec::new();
    wait_until("a first connection to be served", WAIT_LIMIT, || {
        answered_first.extend(take_answered(&mut pending, Duration::from_millis(10)));
        !answered_first.is_empty()
    });
    assert!(
        !pending.is_empty(),
        "the descriptor limit did not bind; the test proves nothing"
    );
    // While connections wait in the accept queue the server must not spin.
    let cpu0 = cpu_seconds(server.child.id());
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_seconds(server.child.id()) - cpu0;
    assert!(
        spent < 0.3,
        "server used {spent:.2} s of CPU in 1 s while out of descriptors"
    );
    // Free descriptors by closing answered connections: the rest are accepted and served.
    drop(answered_first);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} connections never served",
            pending.len()
        );
        drop(take_answered(&mut pending, Duration::from_millis(50)));
    }
    let c: Counters = server.stop_and_count();
    assert!(c.get("errors_accept_resources") > 0);
    assert_eq!(c.get("connections_accepted"), CONNS as u64);
    assert_eq!(c.get("requests"), CONNS as u64);
}

/// Removes and returns the connections whose echo reply has arrived.
fn take_answered(pending: &mut Vec<(usize, TcpStream)>, wait: Duration) -> Vec<TcpStream> {
    let mut answered = Vec::new();
    let mut still = Vec::new();
    for (i, mut s) in pending.drain(..) {
        s.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; HEADER_LEN];
        match s.read_exact(&mut buf) {
            Ok(()) => {
                let (f, _) = decode(&buf, 1024).unwrap().unwrap();
                assert_eq!(f.header.request_id, i as u64);
                answered.push(s);
            }
            Err(_) => still.push((i, s)),
        }
    }
    *pending = still;
    answered
}
