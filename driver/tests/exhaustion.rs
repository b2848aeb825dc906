//! Descriptor exhaustion: twenty thousand idle sockets from one client (two processes of
//! `nines hostile --mode hold`, one process cannot open that many here) fill a nines-server,
//! and a new client is still served — the longest-idle connections make room — with accept()
//! never running out of descriptors.

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nines_server::listener::ListenOptions;
use nines_server::{Server, ServerConfig};
use util::nines;

/// `nines hostile --mode hold` holding `n` connections to `addr`, once it says they are open.
fn hold(addr: &str, n: usize) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args([
            "hostile",
            addr,
            "--mode",
            "hold",
            "-c",
            &n.to_string(),
            "-d",
            "60s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("connections open"), "{line}");
    child
}

#[test]
fn twenty_thousand_idle_sockets_do_not_lock_out_a_new_client() {
    nines_common::sys::raise_nofile().unwrap();
    // The real server, in this process: it may hold what this process's descriptor limit
    // leaves room for (the default --max-connections), fewer than the 20,000 coming.
    let cfg = ServerConfig {
        workers: 1,
        ..ServerConfig::default()
    };
    let server = Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        cfg,
        &ListenOptions::default(),
    )
    .unwrap();
    let addr = server.local_addr().to_string();
    let max = server.max_connections();
    assert!(max < 20_000, "the server must be filled: it holds {max}");
    let mut holders = [hold(&addr, 10_000), hold(&addr, 10_000)];
    let full_at = Instant::now();
    // Connections idle for a second may be closed to make room for new ones.
    std::thread::sleep(Duration::from_millis(1_200));
    let out = nines(&[
        "bench", &addr, "-n", "2000", "-c", "8", "-t", "1", "-w", "0s", "-q", "--json", "-",
    ]);
    let took = full_at.elapsed();
    for h in &mut holders {
        let _ = h.kill();
        let _ = h.wait();
    }
    let stats = server.shutdown();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["requests"].as_u64(), v["errors"].as_u64()),
        (Some(2000), Some(0))
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(stats.evicted_idle >= 8, "idle holders made room: {stats}");
    assert_eq!(
        stats.err_accept_resources, 0,
        "accept never ran out of descriptors: {stats}"
    );
    assert!(stats.accepted >= 20_000, "{stats}");
}
