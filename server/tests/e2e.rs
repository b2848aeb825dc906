//! End to end: the real `nines-server` binary on a real socket, loaded by the driver library.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nines_driver::config::{RequestSpec, Target};
use nines_driver::errors::ErrorKind;
use nines_driver::report::{CutShort, Finding, Outcome};
use nines_driver::run::{run, Hooks};
use nines_driver::StopAt;
use nines_protocol::Op;
use util::{bench, config, get, nines, wait_for_stats, ServerProc};

fn quiet() -> Hooks<'static> {
    Hooks::default()
}

#[test]
fn n_requests_in_n_responses_and_the_server_agrees() {
    let server = ServerProc::start(&["--workers", "2"]);
    let report = run(&config(server.addr, 10_000), &mut quiet()).unwrap();
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(report.requests, 10_000);
    assert_eq!(report.errors, 0, "{:?}", report.errors_by_kind);
    assert_eq!(report.histograms.corrected.0.len(), 10_000);
    assert!(report.throughput_rps > 0.0 && report.duration_s > 0.0);
    let l = report.latency_us.unwrap();
    assert!(
        l.min > 0.0 && l.min <= l.p50 && l.p50 <= l.p99 && l.p99 <= l.p99_99 && l.p99_99 <= l.max
    );
    let c = server.stop_and_count();
    assert_eq!(c.get("requests"), 10_000);
    assert_eq!(
        c.get("bytes_in"),
        c.get("bytes_out"),
        "every echo reply is as long as its request"
    );
    // Four load connections and the driver's one reachability check.
    assert_eq!(c.get("connections_accepted"), 5);
    assert_eq!(c.get("connections_closed"), 5);
}

#[test]
fn pipelining_depth_16() {
    let server = ServerProc::start(&["--workers", "1"]);
    let mut cfg = config(server.addr, 20_000);
    bench(&mut cfg).pipeline = 16;
    cfg.connections = 3;
    let report = run(&cfg, &mut quiet()).unwrap();
    assert_eq!(
        (report.requests, report.errors),
        (20_000, 0),
        "{:?}",
        report.errors_by_kind
    );
    assert_eq!(server.stop_and_count().get("requests"), 20_000);
}

#[test]
fn a_thousand_connections_at_once() {
    let server = ServerProc::start(&["--workers", "2"]);
    let mut cfg = config(server.addr, 5_000);
    cfg.connections = 1_000;
    let report = run(&cfg, &mut quiet()).unwrap();
    assert_eq!(report.driver.connections_opened, 1_000);
    assert_eq!(
        (report.requests, report.errors),
        (5_000, 0),
        "{:?}",
        report.errors_by_kind
    );
    let c = server.stop_and_count();
    assert_eq!(c.get("connections_accepted"), 1_001);
    assert_eq!(c.get("connections_closed"), 1_001);
}

#[test]
fn every_op_and_the_echo_protocol() {
    let server = ServerProc::start(&["--workers", "1", "--work-cap-us", "50"]);
    for (op, payload, work_us) in [
        (Op::Work, 0, 5),
        (Op::Work, 0, 1_000),
        (Op::Source, 3_000, 0),
        (Op::Stats, 0, 0),
    ] {
        let mut cfg = config(server.addr, 500);
        cfg.request = nines(op, payload, work_us).into();
        let r = run(&cfg, &mut quiet()).unwrap();
        assert_eq!(
            (r.requests, r.errors),
            (500, 0),
            "{op} {:?}",
            r.errors_by_kind
        );
        // Work over the server's cap is done only up to the cap: every such reply is counted
        // and the report says the figures measure the cap, not what was asked.
        let capped = work_us > 50;
        assert_eq!(
            r.driver.capped_replies,
            if capped { 500 } else { 0 },
            "{op} {work_us}"
        );
        assert_eq!(
            r.warned(|f| matches!(f, Finding::CappedReplies { capped: 500, .. })),
            capped,
            "{op} {work_us}: {:?}",
            r.warnings
        );
    }
    let c = server.stop_and_count();
    assert_eq!(
        c.get("work_capped"),
        500,
        "work of 1000 µs is over the 50 µs cap"
    );

    let echo = ServerProc::start(&["--workers", "1", "--protocol", "echo"]);
    let mut cfg = config(echo.addr, 5_000);
    cfg.request = RequestSpec::Echo {
        payload_bytes: 100.into(),
    }
    .into();
    bench(&mut cfg).pipeline = 8;
    let r = run(&cfg, &mut quiet()).unwrap();
    assert_eq!((r.requests, r.errors), (5_000, 0), "{:?}", r.errors_by_kind);
    assert_eq!(echo.stop_and_count().get("bytes_in"), 5_000 * 100);
}

/// Reads until EOF or reset; true if the server closed the connection within `limit`.
fn closed_by_server(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn garbage_closes_one_connection_while_others_keep_working() {
    let server = ServerProc::start(&["--workers", "1", "--max-frame", "4k"]);
    let addr = server.addr;
    let load = std::thread::spawn(move || {
        let mut cfg = config(addr, 30_000);
        cfg.connections = 2;
        run(&cfg, &mut quiet()).unwrap()
    });
    // Garbage, a frame over --max-frame, and an unknown op, each on its own connection, while
    // the load runs on the same (single) worker.
    let mut too_large = b"N9\x01\x01\0\0\0\0".to_vec();
    too_large.extend_from_slice(&(1u32 << 20).to_le_bytes());
    let mut unknown_op = b"N9\x01\x09".to_vec();
    unknown_op.extend_from_slice(&[0u8; 36]);
    for bad in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &too_large,
        &unknown_op,
    ] {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(bad).unwrap();
        assert!(
            closed_by_server(&mut s, Duration::from_secs(5)),
            "server kept a bad connection open"
        );
    }
    let report = load.join().unwrap();
    assert_eq!(
        (report.requests, report.errors),
        (30_000, 0),
        "{:?}",
        report.errors_by_kind
    );
    // And new connections still work after all that.
    let r = run(&config(addr, 100), &mut quiet()).unwrap();
    assert_eq!((r.requests, r.errors), (100, 0));
    let c = server.stop_and_count();
    assert_eq!(c.get("errors_bad_magic"), 1);
    assert_eq!(c.get("errors_frame_too_large"), 1);
    assert_eq!(c.get("errors_unknown_op"), 1);
}

#[test]
fn sigterm_drains_cleanly_with_connections_open() {
    let server = ServerProc::start(&["--workers", "2"]);
    let idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // Stop only once the server holds them all (asking also opens a connection each time).
    let queries = wait_for_stats(server.addr, "all 20 idle connections accepted", |s, q| {
        get(s, "connections_accepted") >= 20 + q
    });
    let started = Instant::now();
    let (ok, out, err) = server.stop_with(libc::SIGTERM);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(ok, "exit status not success; stderr:\n{err}");
    let c = util::Counters::parse(&out);
    assert_eq!(c.get("connections_accepted"), 20 + queries);
    assert_eq!(c.get("connections_closed"), 20 + queries);
    for mut s in idle {
        assert!(closed_by_server(&mut s, Duration::from_secs(2)));
    }
}

#[test]
fn wrong_replies_are_errors_and_the_error_limit_cuts_the_run_short() {
    // nines frames sent to an echo server come back without the RESPONSE flag: every reply is
    // wrong, and the run must stop at the limit with what it has.
    let echo = ServerProc::start(&["--workers", "1", "--protocol", "echo"]);
    let mut cfg = config(echo.addr, 1_000_000);
    bench(&mut cfg).max_errors = 50;
    let r = run(&cfg, &mut quiet()).unwrap();
    assert!(
        matches!(r.outcome, Outcome::CutShort(CutShort::ErrorLimit { .. })),
        "{:?}",
        r.outcome
    );
    assert_eq!(r.requests, 0);
    assert!(
        r.errors >= 50 && r.errors_by_kind.get(ErrorKind::BadPayload) >= 50,
        "{:?}",
        r.errors_by_kind
    );
}

#[test]
fn server_death_mid_run_keeps_what_was_measured() {
    let server = ServerProc::start(&["--workers", "1"]);
    let mut cfg = config(server.addr, 0);
    bench(&mut cfg).stop = StopAt::Duration(Duration::from_secs(20));
    let addr = server.addr;
    let load = std::thread::spawn(move || {
        let mut cfg = cfg;
        cfg.target = Target::Address(addr.to_string());
        run(&cfg, &mut quiet()).unwrap()
    });
    // Kill it once the load has answers: in a closed loop on 4 connections, 100 requests
    // answered by the server mean at least 96 replies the driver has read.
    wait_for_stats(
        server.addr,
        "the server to answer 100 requests of the load",
        |s, q| get(s, "requests") >= 100 + q,
    );
    let started = Instant::now();
    let _ = server.stop_with(libc::SIGKILL);
    let r = load.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "driver did not notice the server died"
    );
    assert!(
        matches!(
            r.outcome,
            Outcome::CutShort(CutShort::ConnectionsLost { lost: 4 })
        ),
        "{:?}",
        r.outcome
    );
    assert!(r.requests > 0, "what was measured before the death is kept");
    assert_eq!(r.driver.connections_lost, 4);
    // Every request sent is accounted for once: answered, or lost with its connection.
    let aborted = r.errors_by_kind.get(ErrorKind::Aborted);
    let answered = r.requests + r.warmup.as_ref().map_or(0, |w| w.requests);
    assert_eq!(
        r.driver.requests_sent,
        answered + aborted + r.driver.in_flight_at_stop
    );
    assert!(
        r.errors_by_kind.get(ErrorKind::ConnectionClosed) > 0,
        "{:?}",
        r.errors_by_kind
    );
}

#[test]
fn the_phase_profile_sums_to_100_and_finds_the_cpu_bound_phase() {
    let server = ServerProc::start(&["--workers", "1"]);
    let mut cfg = config(server.addr, 2_000);
    cfg.request = nines(Op::Work, 0, 200).into();
    let r = nines_driver::profile::profile(&cfg, &mut quiet()).unwrap();
    let p = r.profile.unwrap();
    let sum = p.accept_pct + p.read_pct + p.process_pct + p.write_pct + p.overhead_pct;
    assert!((sum - 100.0).abs() < 0.01, "sum {sum}");
    // 200 µs of CPU per request dwarfs a syscall or two: process is the bottleneck, and more
    // than every other phase together. (Not a tighter share: the phases are wall time, and
    // a write that wakes the driver on a busy 2-core machine can take tens of µs.)
    assert_eq!(p.bottleneck, "process", "{p:?}");
    assert!(p.process_pct > 50.0, "{p:?}");
    assert_eq!(p.server_requests, 2_000);
    assert!(
        p.profiled_ns > 2_000 * 200_000,
        "at least the work itself was timed"
    );
    let c = server.stop_and_count();
    assert!(c.get("phase_process_ns") >= 2_000 * 200_000);
    assert!(c.get("reads") > 0 && c.get("writes") > 0);
}

#[test]
fn source_replies_over_the_servers_frame_limit_are_counted_as_capped() {
    let server = ServerProc::start(&["--workers", "1", "--max-frame", "4k"]);
    let mut cfg = config(server.addr, 300);
    cfg.request = nines(Op::Source, 8_000, 0).into();
    let r = run(&cfg, &mut quiet()).unwrap();
    assert_eq!((r.requests, r.errors), (300, 0), "{:?}", r.errors_by_kind);
    assert_eq!(r.driver.capped_replies, 300);
    let capped = r
        .warnings
        .iter()
        .find(|c| matches!(c.finding, Finding::CappedReplies { .. }));
    let message = &capped.expect("a capped_replies warning").message;
    assert!(message.contains("nines source 8000 B"), "{message}");
}

#[test]
fn bad_server_flags_are_one_line_and_exit_2() {
    for (args, flag) in [
        (
            &["--workers", "0"][..],
            "--workers 0 is out of range: allowed 1 to 1024",
        ),
        (&["--max-frame", "8"], "--max-frame 8 is out of range"),
        (&["--backlog", "0"], "--backlog 0 is out of range"),
        (
            &["--balance", "random"],
            "possible values: round-robin, least-connections",
        ),
        // The driver speaks Redis; this server does not, and offers only what it serves.
        (
            &["--protocol", "redis"],
            "possible values: nines, echo, http, ws",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nines-server"))
            .args(["--port", "0"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(flag),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_second_server_on_a_used_port_exits_with_one_clear_line() {
    let first = ServerProc::start(&["--workers", "1"]);
    let port = first.addr.port().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nines-server"))
        .args(["--port", &port, "--workers", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("error"))
        .unwrap_or_default();
    assert!(
        line.contains("already listening") && line.contains("--reuse-port"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "it never said it was listening");
    // Sharing on purpose works, and both serve.
    let shared = ServerProc::from_child(
        std::process::Command::new(env!("CARGO_BIN_EXE_nines-server"))
            .args(["--port", &port, "--workers", "1", "--reuse-port"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert_eq!(shared.addr, first.addr);
    let r = run(&config(first.addr, 2_000), &mut quiet()).unwrap();
    assert_eq!((r.requests, r.errors), (2_000, 0));
}
