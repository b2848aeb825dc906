//! Server configuration: plain data, validated once, shared read-only by every thread.

use std::fmt;
use std::str::FromStr;

use nines_protocol::DEFAULT_MAX_FRAME_BYTES;

/// Default TCP port when none is given.
pub const DEFAULT_PORT: u16 = 9999;
/// Default listen backlog. The kernel silently caps it at `net.core.somaxconn`.
pub const DEFAULT_BACKLOG: i32 = 2048;
/// Default cap on the CPU time one Work request may ask for: 100 ms.
pub const DEFAULT_WORK_CAP_US: u32 = 100_000;
/// Default bound on unsent reply bytes per connection before the server stops reading from it.
pub const DEFAULT_WRITE_HIGH_WATER: usize = 256 * 1024;

/// What the server speaks on every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// nines frames (see the `nines-protocol` crate).
    #[default]
    Nines,
    /// Plain byte echo: whatever is read is written back, as any echo client expects.
    Echo,
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "nines" => Ok(Protocol::Nines),
            "echo" => Ok(Protocol::Echo),
            _ => Err(format!("unknown protocol `{s}` (expected nines or echo)")),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Nines => "nines",
            Protocol::Echo => "echo",
        })
    }
}

/// How an acceptor picks the worker for a new connection. Both are O(1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    /// Next worker in turn.
    #[default]
    RoundRobin,
    /// The less loaded of two workers picked at random ("power of two choices"): close to
    /// least-connections without scanning every worker.
    LeastConnections,
}

impl FromStr for Balance {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "round-robin" | "rr" => Ok(Balance::RoundRobin),
            "least-connections" | "lc" => Ok(Balance::LeastConnections),
            _ => Err(format!(
                "unknown balance `{s}` (expected round-robin or least-connections)"
            )),
        }
    }
}

impl fmt::Display for Balance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Balance::RoundRobin => "round-robin",
            Balance::LeastConnections => "least-connections",
        })
    }
}

/// How connections are scheduled onto threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Acceptors hand connections to a fixed pool of event-loop workers.
    Pooled,
    /// One acceptor; one blocking OS thread per connection.
    ThreadPerConnection,
}

impl Model {
    /// The models this build contains (cargo features `pooled`, `thread-per-connection`).
    pub fn available() -> Vec<Model> {
        let mut v = Vec::new();
        if cfg!(feature = "pooled") {
            v.push(Model::Pooled);
        }
        if cfg!(feature = "thread-per-connection") {
            v.push(Model::ThreadPerConnection);
        }
        v
    }
}

impl Default for Model {
    /// Pooled when built in, else thread-per-connection.
    fn default() -> Self {
        Model::available().first().copied().unwrap_or(Model::Pooled)
    }
}

impl FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let m = match s {
            "pooled" => Model::Pooled,
            "thread-per-connection" | "threaded" => Model::ThreadPerConnection,
            _ => {
                return Err(format!(
                    "unknown model `{s}` (expected pooled or thread-per-connection)"
                ))
            }
        };
        if Model::available().contains(&m) {
            Ok(m)
        } else {
            Err(format!(
                "this build has no {m} model; rebuild with `cargo build --release --features {m}`"
            ))
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Model::Pooled => "pooled",
            Model::ThreadPerConnection => "thread-per-connection",
        })
    }
}

/// Default cap on connection threads in the thread-per-connection model.
pub const DEFAULT_MAX_THREADS: usize = 10_000;

/// Everything a running server needs to know.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Wire protocol.
    pub protocol: Protocol,
    /// Scheduling model.
    pub model: Model,
    /// Thread-per-connection: connections beyond this many threads are refused (closed at once).
    pub max_threads: usize,
    /// Worker threads, each with its own event loop. At least 1.
    pub workers: usize,
    /// Acceptor threads, each with its own SO_REUSEPORT listener; 0 makes every worker own a
    /// listener and accept for itself (pooled model).
    pub acceptors: usize,
    /// Worker choice for new connections.
    pub balance: Balance,
    /// Largest nines frame (header + payload) accepted.
    pub max_frame_bytes: usize,
    /// Cap on the CPU microseconds a Work request may ask for.
    pub work_cap_us: u32,
    /// Unsent reply bytes per connection above which the server stops reading from it.
    pub write_high_water: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            protocol: Protocol::Nines,
            model: Model::default(),
            max_threads: DEFAULT_MAX_THREADS,
            workers: available_cpus(),
            acceptors: 1,
            balance: Balance::RoundRobin,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            work_cap_us: DEFAULT_WORK_CAP_US,
            write_high_water: DEFAULT_WRITE_HIGH_WATER,
        }
    }
}

/// CPUs this process may run on (respects taskset/cgroups), at least 1.
pub fn available_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Parses a byte count written like `64`, `16k`, `4KiB`, `1m`, `1MiB` (k and m are binary).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (digits, mult) = if let Some(d) = lower
        .strip_suffix("kib")
        .or_else(|| lower.strip_suffix('k'))
    {
        (d, 1024)
    } else if let Some(d) = lower
        .strip_suffix("mib")
        .or_else(|| lower.strip_suffix('m'))
    {
        (d, 1024 * 1024)
    } else if let Some(d) = lower.strip_suffix('b') {
        (d, 1)
    } else {
        (lower.as_str(), 1)
    };
    let n: usize = digits
        .trim()
        .parse()
        .map_err(|_| format!("`{t}` is not a byte count (examples: 64, 16k, 1m)"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{t}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts() {
        assert_eq!(parse_bytes("64"), Ok(64));
        assert_eq!(parse_bytes("16k"), Ok(16 * 1024));
        assert_eq!(parse_bytes("1MiB"), Ok(1 << 20));
        assert_eq!(parse_bytes("2m"), Ok(2 << 20));
        assert_eq!(parse_bytes("10b"), Ok(10));
        assert!(parse_bytes("ten").is_err());
        assert!(parse_bytes("-1").is_err());
    }

    #[test]
    fn names_parse_both_ways() {
        for p in [Protocol::Nines, Protocol::Echo] {
            assert_eq!(p.to_string().parse::<Protocol>(), Ok(p));
        }
        for b in [Balance::RoundRobin, Balance::LeastConnections] {
            assert_eq!(b.to_string().parse::<Balance>(), Ok(b));
        }
        assert!("http"
            .parse::<Protocol>()
            .unwrap_err()
            .contains("nines or echo"));
    }
}
