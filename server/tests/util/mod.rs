//! Shared helpers: start the real `nines-server` binary on a free port and stop it.

#![allow(dead_code)] // Each test file uses a different subset.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nines_driver::config::{Bench, BenchConfig, Load, NinesOp, RequestSpec, StopAt, Target};
use nines_protocol::{decode, encode, Header, Op};

pub mod tls;

/// A running `nines-server` process, killed on drop if the test did not stop it.
pub struct ServerProc {
    pub child: Child,
    pub addr: SocketAddr,
}

impl ServerProc {
    pub fn start(args: &[&str]) -> ServerProc {
        let child = Command::new(env!("CARGO_BIN_EXE_nines-server"))
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nines-server");
        ServerProc::from_child(child)
    }

    /// Takes over a spawned server (stdout piped) and waits for its listening line.
    pub fn from_child(mut child: Child) -> ServerProc {
        let stdout = child.stdout.as_mut().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listening line");
        let Some(addr) = line.trim().strip_prefix("nines-server listening on ") else {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(stderr) = child.stderr.as_mut() {
                let _ = stderr.read_to_string(&mut err);
            }
            panic!("unexpected first line: {line:?}; the server said: {err}");
        };
        let addr = addr.parse().expect("address on the listening line");
        ServerProc { child, addr }
    }

    /// Sends `sig`, waits (bounded) for exit, returns (exit success, stdout rest, stderr).
    pub fn stop_with(mut self, sig: i32) -> (bool, String, String) {
        // SAFETY: kill(2) on a pid we spawned and have not reaped; no memory is involved.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit within 10 s of signal {sig}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        let mut err = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status.success(), out, err)
    }

    /// SIGTERM, then the counters from the "stopped:" line.
    pub fn stop_and_count(self) -> Counters {
        let (ok, out, err) = self.stop_with(libc::SIGTERM);
        assert!(ok, "server exited with failure; stderr:\n{err}");
        Counters::parse(&out)
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `name=value` counters the server prints when it stops.
pub struct Counters(pub Vec<(String, u64)>);

impl Counters {
    pub fn parse(stdout: &str) -> Counters {
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("nines-server stopped: "))
            .unwrap_or_else(|| panic!("no stopped line in {stdout:?}"));
        Counters(
            line.split_whitespace()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("name=value");
                    (k.to_string(), v.parse().expect("number"))
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> u64 {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("no counter {name}"))
            .1
    }
}

/// A closed-loop config against `addr` that stops after `requests` replies, no warm-up.
pub fn config(addr: SocketAddr, requests: u64) -> BenchConfig {
    BenchConfig {
        target: Target::Address(addr.to_string()),
        threads: 2,
        connections: 4,
        load: Load::ClosedLoop(Bench {
            stop: StopAt::Requests(requests),
            warmup: Duration::ZERO,
            ..Bench::default()
        }),
        drain_timeout: Duration::from_secs(5),
        ..BenchConfig::default()
    }
}

/// The pipeline, warm-up, stop and error limit of a bench config, to change.
pub fn bench(cfg: &mut BenchConfig) -> &mut Bench {
    cfg.load.bench_mut().expect("a bench load")
}

/// A nines request of `op` with its argument (payload or reply bytes, or Work µs).
pub fn nines(op: Op, bytes: usize, work_us: u32) -> RequestSpec {
    RequestSpec::Nines(match op {
        Op::Echo => NinesOp::Echo {
            payload_bytes: bytes,
        },
        Op::Source => NinesOp::Source { reply_bytes: bytes },
        Op::Work => NinesOp::Work { work_us },
        Op::Stats => NinesOp::Stats,
    })
}

/// One nines request frame.
pub fn request(op: Op, id: u64, arg: u32) -> Vec<u8> {
    let mut v = Vec::new();
    encode(
        &Header {
            arg,
            ..Header::request(op, id)
        },
        &[],
        &mut v,
    );
    v
}

/// Asks the server for its counters over a fresh connection.
pub fn stats(addr: std::net::SocketAddr) -> Vec<(String, u64)> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&request(Op::Stats, 1, 0)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).expect("stats reply in time");
        assert!(n > 0, "server closed the stats connection");
        buf.extend_from_slice(&chunk[..n]);
        if let Some((f, _)) = decode(&buf, 1 << 20).unwrap() {
            return nines_protocol::stats::parse(f.payload).unwrap();
        }
    }
}

pub fn get(stats: &[(String, u64)], name: &str) -> u64 {
    stats.iter().find(|(k, _)| k == name).unwrap().1
}

/// How long a test waits for a condition before it fails.
pub const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// Checks `cond` every 10 ms until it holds; fails naming `what` if it does not within `limit`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Asks the server for its counters until `done(counters, queries)` holds, and returns
/// `queries`: how many times it asked. Each ask is a connection and a 40-byte Stats request
/// like any other, so the counters it gets back include this ask's connection
/// (`connections_accepted`) and request bytes (`bytes_in`), and every earlier ask's request
/// (`requests`); a test that counts exactly adds `queries` where it must.
pub fn wait_for_stats(
    addr: SocketAddr,
    what: &str,
    done: impl Fn(&[(String, u64)], u64) -> bool,
) -> u64 {
    let deadline = Instant::now() + WAIT_LIMIT;
    let mut queries = 0;
    loop {
        queries += 1;
        let counters = stats(addr);
        if done(&counters, queries) {
            return queries;
        }
        if Instant::now() >= deadline {
            let nonzero: Vec<String> = counters
                .iter()
                .filter(|(_, v)| *v != 0)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            panic!(
                "timed out after {WAIT_LIMIT:?} waiting for {what}; the server's counters: {}",
                nonzero.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

pub fn cpu_seconds(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}
