//! Shared helpers: start the real `nines-server` binary on a free port and stop it.

#![allow(dead_code)] // Each test file uses a different subset.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nines_driver::config::{Bench, BenchConfig, Load, NinesOp, RequestSpec, StopAt, Target};
use nines_protocol::{decode, encode, Header, Op, HEADER_LEN};

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

    /// Checks each named counter has its value, naming every one that does not.
    pub fn expect(&self, want: &[(&str, u64)], what: &str) {
        let got: Vec<(&str, u64)> = want.iter().map(|&(k, _)| (k, self.get(k))).collect();
        assert_eq!(got, want, "{what}: counters");
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
            payload_bytes: bytes.into(),
        },
        Op::Source => NinesOp::Source {
            reply_bytes: bytes.into(),
        },
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
            panic!(
                "timed out after {WAIT_LIMIT:?} waiting for {what}; the server's counters: {}",
                nonzero(&counters)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The counters that are not zero, as `name=value` words.
pub fn nonzero(counters: &[(String, u64)]) -> String {
    let words: Vec<String> = counters
        .iter()
        .filter(|(_, v)| *v != 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    words.join(" ")
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

/// Both server models (tests run with `--all-features`, which builds both).
pub const MODELS: [&str; 2] = ["pooled", "thread-per-connection"];

/// `--max-buffered` of the never-reading-clients tests, in MiB.
pub const BUDGET_MIB: u64 = 16;

/// Flags of the never-reading-clients tests: a budget of [`BUDGET_MIB`], frames big enough for
/// [`REPLY_BYTES`], a send timeout that closes the clients once their buffers are full, and a
/// read timeout that does not.
pub const NEVER_READING_FLAGS: [&str; 8] = [
    "--max-buffered",
    "16m",
    "--max-frame",
    "5m",
    "--send-timeout",
    "3s",
    "--read-timeout",
    "60s",
];

/// Holds the never-reading clients a while after the server has read every ask (it has had
/// the chance to buffer all of it; holding them unread is the test), then checks the server's
/// RSS grew less than the budget plus `per_conn_kib` and 8 MiB of allocator slack.
pub fn assert_held_to_the_budget(pid: u32, before_kib: u64, per_conn_kib: u64, what: &str) {
    std::thread::sleep(Duration::from_millis(1_500));
    let grown_kib = rss_kib(pid).saturating_sub(before_kib);
    let bound_kib = BUDGET_MIB * 1024 + per_conn_kib + 8 * 1024;
    assert!(
        grown_kib < bound_kib,
        "{what}: server RSS grew {grown_kib} KiB (bound {bound_kib} KiB)"
    );
}

/// What a never-reading client sends: Source asks for more reply bytes than the kernel's
/// socket buffers can hold, all in one read's worth of requests. Returns (asks, their bytes).
pub fn never_read_asks() -> (u32, Vec<u8>) {
    let asks = asks_past_the_kernel_buffers();
    let mut bytes = Vec::new();
    for id in 0..u64::from(asks) {
        bytes.extend(request(Op::Source, id, REPLY_BYTES as u32));
    }
    (asks, bytes)
}

/// Each Source reply a never-reading client asks for (the server runs with `--max-frame 5m`).
pub const REPLY_BYTES: u64 = 4 << 20;

/// How many Source asks one connection needs so its replies cannot all sit in the kernel: one
/// more than the largest send buffer plus the largest receive buffer holds. They fit in one
/// 4 KiB read, so the server reads them all at once: 102 asks, 408 MiB of buffers, at most.
pub fn asks_past_the_kernel_buffers() -> u32 {
    let max_of = |path: &str| -> u64 {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.split_whitespace().last().unwrap().parse().unwrap()
    };
    let most = max_of("/proc/sys/net/ipv4/tcp_wmem") + max_of("/proc/sys/net/ipv4/tcp_rmem");
    let asks = (most / REPLY_BYTES) as u32 + 1;
    assert!(
        asks as usize * HEADER_LEN <= 4096,
        "socket buffers of {most} bytes need {asks} asks of {REPLY_BYTES} bytes, more than one read"
    );
    asks
}
