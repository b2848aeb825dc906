//! The other server layouts on the real binary: thread-per-connection (when built in) and the
//! pooled model with workers accepting for themselves (`--acceptors 0`). Same behaviour as the
//! default layout: exact counts, pipelining, many connections, bad input closes one connection,
//! clean shutdown.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use nines_driver::run::{run, Hooks};
use util::{config, get, wait_for_stats, ServerProc};
#[cfg(feature = "thread-per-connection")]
use util::{wait_until, WAIT_LIMIT};

fn exercise(args: &[&str]) {
    let server = ServerProc::start(args);
    let mut cfg = config(server.addr, 20_000);
    cfg.connections = 200;
    util::bench(&mut cfg).pipeline = 4;
    let r = run(&cfg, &mut Hooks::default()).unwrap();
    assert_eq!(
        (r.requests, r.errors),
        (20_000, 0),
        "{args:?}: {:?}",
        r.errors_by_kind
    );
    let mut bad = TcpStream::connect(server.addr).unwrap();
    bad.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    assert!(
        matches!(bad.read(&mut buf), Ok(0) | Err(_)),
        "{args:?}: bad connection stayed open"
    );
    // Idle connections open at shutdown are closed and counted.
    let _idle: Vec<TcpStream> = (0..10)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // 200 load connections, the reachability check, the bad one, 10 idle; and the queries.
    let queries = wait_for_stats(server.addr, "all 212 connections accepted", |s, q| {
        get(s, "connections_accepted") >= 212 + q
    });
    let c = server.stop_and_count();
    assert_eq!(c.get("requests"), 20_000 + queries, "{args:?}");
    assert_eq!(c.get("errors_bad_magic"), 1, "{args:?}");
    assert_eq!(c.get("connections_accepted"), 212 + queries, "{args:?}");
    assert_eq!(c.get("connections_closed"), 212 + queries, "{args:?}");
    assert!(
        c.get("phase_read_ns") > 0 && c.get("phase_write_ns") > 0,
        "{args:?}"
    );
}

#[test]
fn workers_that_accept_for_themselves() {
    exercise(&["--acceptors", "0", "--workers", "2"]);
}

#[cfg(feature = "thread-per-connection")]
#[test]
fn thread_per_connection() {
    exercise(&["--model", "thread-per-connection"]);
}

#[cfg(feature = "thread-per-connection")]
#[test]
fn max_threads_refuses_clearly() {
    let server = ServerProc::start(&["--model", "thread-per-connection", "--max-threads", "5"]);
    let conns: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // (No Stats query here: it would be one more connection past the limit.)
    let mut closed = [false; 8];
    wait_until(
        "the 3 connections past --max-threads to be closed",
        WAIT_LIMIT,
        || {
            for (mut c, closed) in conns.iter().zip(&mut closed) {
                c.set_nonblocking(true).unwrap();
                *closed |= matches!(c.read(&mut [0u8; 1]), Ok(0));
            }
            closed.iter().filter(|&&c| c).count() >= 3
        },
    );
    assert_eq!(
        closed.iter().filter(|&&c| c).count(),
        3,
        "connections past --max-threads are closed at once, the others kept"
    );
    drop(conns);
    let (ok, out, err) = server.stop_with(libc::SIGTERM);
    assert!(ok);
    assert!(
        err.contains("refusing connections") && err.contains("max-threads"),
        "{err}"
    );
    let c = util::Counters::parse(&out);
    assert_eq!(c.get("refused_max_threads"), 3);
    assert_eq!(c.get("connections_accepted"), 8);
    assert_eq!(c.get("connections_closed"), 8);
}

#[cfg(not(feature = "thread-per-connection"))]
#[test]
fn a_model_that_is_not_built_in_is_a_clear_usage_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nines-server"))
        .args(["--port", "0", "--model", "thread-per-connection"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--features thread-per-connection"));
}
