//! Server configuration: plain data, validated once, shared read-only by every thread.
//!
//! It is the bottom layer of the server: every choice a user makes (which protocol, which
//! model, every default and bound) is named here once, as an enum or a constant, and the
//! modules above match on it where it matters. It imports no other module of the server.

use std::sync::Arc;
use std::time::Duration;

use nines_common::sys::available_cpus;
use nines_common::usage::{check_range, UsageError};
pub use nines_common::DEFAULT_PORT;

use nines_protocol::{DEFAULT_MAX_FRAME_BYTES, HEADER_LEN};

/// Default listen backlog. The kernel silently caps it at `net.core.somaxconn`.
pub const DEFAULT_BACKLOG: i32 = 2048;
/// Default cap on the CPU time one Work request may ask for: 100 ms.
pub const DEFAULT_WORK_CAP_US: u32 = 100_000;
/// Default bound on unsent reply bytes per connection before the server stops reading from it.
pub const DEFAULT_WRITE_HIGH_WATER: usize = 256 * 1024;
/// Most worker (and acceptor) threads a server may be asked for.
pub const MAX_WORKERS: usize = 1024;
/// Largest frame, read-pause threshold or socket buffer a server may be given: 1 GiB.
pub const MAX_BUFFER_BYTES: usize = 1 << 30;
/// Longest CPU time a Work request may be allowed: 60 s.
pub const MAX_WORK_CAP_US: u32 = 60_000_000;
/// Default `--idle-timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default `--read-timeout`.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `--send-timeout`.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `--max-buffered`: unsent reply bytes the whole process may hold.
pub const DEFAULT_MAX_BUFFERED: usize = 64 * 1024 * 1024;

/// What nines-server serves on every connection: exactly the protocols it implements (the
/// driver also speaks Redis, which this server does not serve, so the server has its own enum
/// and `--protocol` offers nothing it would refuse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Protocol {
    /// nines frames: ids, intended send times and server residence times on every request.
    #[default]
    Nines,
    /// Plain byte echo: whatever is sent comes back.
    Echo,
    /// A keep-alive HTTP/1.1 `200 OK` responder.
    Http,
    /// A WebSocket (RFC 6455) echo server.
    Ws,
}

nines_common::value_enum_display!(Protocol);

/// How an acceptor picks the worker for a new connection. Both are O(1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Balance {
    /// Next worker in turn.
    #[default]
    #[value(alias = "rr")]
    RoundRobin,
    /// The less loaded of two workers picked at random ("power of two choices"): close to
    /// least-connections without scanning every worker.
    #[value(alias = "lc")]
    LeastConnections,
}

nines_common::value_enum_display!(Balance);

/// How connections are scheduled onto threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Model {
    /// Acceptors hand connections to a fixed pool of event-loop workers.
    Pooled,
    /// One acceptor; one blocking OS thread per connection.
    #[value(alias = "threaded")]
    ThreadPerConnection,
}

nines_common::value_enum_display!(Model);

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
    /// Close a connection with no complete request for this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Close a connection whose request, once begun, is not complete within this (`None`:
    /// never); what stops a slowloris.
    pub read_timeout: Option<Duration>,
    /// Close a connection whose unsent replies make no progress for this long (`None`: never).
    pub send_timeout: Option<Duration>,
    /// Most connections at once (`None`: as many as the descriptor limit leaves room for).
    pub max_connections: Option<usize>,
    /// Unsent reply bytes the whole process may hold.
    pub max_buffered: usize,
    /// TLS on every connection (`--tls-cert`, `--tls-key`; made by `tls::load`), or plain TCP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
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
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            read_timeout: Some(DEFAULT_READ_TIMEOUT),
            send_timeout: Some(DEFAULT_SEND_TIMEOUT),
            max_connections: None,
            max_buffered: DEFAULT_MAX_BUFFERED,
            tls: None,
        }
    }
}

impl ServerConfig {
    /// Every bound a user can trip, checked before anything starts: one [`UsageError`] per
    /// violation, naming the flag and the range it accepts.
    pub fn validate(&self) -> Vec<UsageError> {
        let mut errors = Vec::new();
        let e = &mut errors;
        let worker_why = "each worker is a thread with its own event loop";
        check_range(e, "--workers", self.workers, (1, MAX_WORKERS), worker_why);
        let acceptor_why = "0 makes every worker accept for itself";
        check_range(
            e,
            "--acceptors",
            self.acceptors,
            (0, MAX_WORKERS),
            acceptor_why,
        );
        check_range(e, "--max-threads", self.max_threads, (1, usize::MAX), "");
        let frame = (HEADER_LEN, MAX_BUFFER_BYTES);
        let frame_why = "a frame is at least its 40-byte header";
        check_range(e, "--max-frame", self.max_frame_bytes, frame, frame_why);
        let buffer = (1, MAX_BUFFER_BYTES);
        check_range(e, "--write-high-water", self.write_high_water, buffer, "");
        let cap = (0, MAX_WORK_CAP_US);
        check_range(e, "--work-cap-us", self.work_cap_us, cap, "60 s");
        let budget = (1 << 20, 16 * MAX_BUFFER_BYTES);
        let budget_why = "unsent reply bytes the whole server may hold";
        check_range(e, "--max-buffered", self.max_buffered, budget, budget_why);
        if let Some(n) = self.max_connections {
            check_range(e, "--max-connections", n, (1, usize::MAX), "");
        }
        if !Model::available().contains(&self.model) {
            errors.push(UsageError::new(
                "--model",
                format!(
                    "{m}: this build has no {m} model; rebuild with `cargo build --release --features {m}`",
                    m = self.model
                ),
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_both_ways() {
        for b in [Balance::RoundRobin, Balance::LeastConnections] {
            assert_eq!(b.to_string().parse::<Balance>(), Ok(b));
        }
        assert_eq!("rr".parse::<Balance>(), Ok(Balance::RoundRobin));
        assert_eq!("threaded".parse::<Model>(), Ok(Model::ThreadPerConnection));
        assert_eq!(
            Model::ThreadPerConnection.to_string(),
            "thread-per-connection"
        );
        for p in [
            Protocol::Nines,
            Protocol::Echo,
            Protocol::Http,
            Protocol::Ws,
        ] {
            assert_eq!(p.to_string().parse::<Protocol>(), Ok(p));
        }
        assert_eq!(Protocol::Ws.to_string(), "ws");
        assert_eq!(
            "redis".parse::<Protocol>(),
            Err("unknown value `redis` (expected nines, echo, http, ws)".to_string()),
            "nines-server does not serve Redis, and says what it serves"
        );
    }

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_flag() {
        assert_eq!(ServerConfig::default().validate(), vec![]);
        let bad = ServerConfig {
            workers: 0,
            max_frame_bytes: 8,
            ..ServerConfig::default()
        };
        let errors = bad.validate();
        let flags: Vec<&str> = errors.iter().map(|e| e.flag).collect();
        assert_eq!(flags, ["--workers", "--max-frame"]);
        assert!(errors[0].to_string().contains("allowed 1 to 1024"));
    }
}
