//! Every default of every command, defined once: the command line shows these in `--help` and
//! the configurations' `Default`s are built from them, so the two cannot disagree.

use std::time::Duration;

use nines_common::sys::available_cpus;

/// Connections, spread over the driver threads.
pub const CONNECTIONS: usize = 64;
/// Requests in flight per connection at most.
pub const PIPELINE: usize = 1;
/// Measured time of a bench run.
pub const DURATION: Duration = Duration::from_secs(10);
/// Measured time of a profile run.
pub const PROFILE_DURATION: Duration = Duration::from_secs(3);
/// Load applied before measuring, reported apart and discarded.
pub const WARMUP: Duration = Duration::from_secs(1);
/// Request payload (echo) or reply size asked for (source), bytes.
pub const PAYLOAD_BYTES: usize = 64;
/// CPU microseconds a Work request asks for.
pub const WORK_US: u32 = 10;
/// HTTP request method when `--method` is not given.
pub const HTTP_METHOD: &str = "GET";
/// Redis command sent when `--command` is not given.
pub const REDIS_COMMAND: &str = "PING";
/// Distinct keys `__rand__` picks from in a Redis command.
pub const KEYSPACE: u64 = 1_000_000;
/// Seed of the Poisson schedule.
pub const SEED: u64 = 1;
/// Schedule lag p99 above which the driver warns that it shaped the result.
pub const LAG_THRESHOLD: Duration = Duration::from_millis(1);
/// Samples a second a flame graph takes of each of the target's threads while it is on a CPU:
/// often enough for a 10 s run of a busy thread to show a 1% frame with about 50 samples; odd,
/// so it does not beat in step with timers that fire at round rates.
pub const FLAME_HZ: u32 = 499;
/// Most samples a second perf is asked for: the kernel lowers its own ceiling
/// (kernel.perf_event_max_sample_rate) when sampling takes too long, and past this the
/// sampling itself shapes what it measures.
pub const MAX_FLAME_HZ: u32 = 10_000;
/// Errors after which a run stops.
pub const MAX_ERRORS: u64 = 100;
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request may go unanswered (or, open loop, unsent) before it is an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for replies in flight when the measurement ends.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest HTTP body (chunk framing included), WebSocket message (frames included) or RESP
/// reply taken: one past it is closed and counted as `response_too_large`. Each is counted as
/// it arrives, never held, so the bound is not about memory: it names a server that announces
/// or sends without end, rather than leaving it to `--timeout`. Four times a 1 GiB download;
/// eight times Redis' own largest bulk string (proto-max-bulk-len, 512 MB).
pub const MAX_RESPONSE_BYTES: u64 = 4 << 30;

/// [`MAX_RESPONSE_BYTES`], for a report from before `--max-response`, which reads as it.
pub fn max_response_bytes() -> u64 {
    MAX_RESPONSE_BYTES
}

/// Connections a storm opens.
pub const STORM_CONNECTIONS: usize = 1000;
/// Connections a storm opens per second: one per millisecond, as in seed 003's test.
pub const STORM_CONNECT_RATE: f64 = 1000.0;
/// Time between one storm connection's messages.
pub const STORM_INTERVAL: Duration = Duration::from_secs(1);
/// How long a storm's connect (and handshake) may take: seed 003's 2 s.
pub const STORM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Driver processes a storm is spread over.
pub const STORM_PROCESSES: usize = 1;
/// Most driver processes a storm may be spread over.
pub const MAX_STORM_PROCESSES: usize = 64;

/// How long a sweep's peak probe measures.
pub const PEAK_DURATION: Duration = Duration::from_secs(3);
/// A sweep's p99 bound without `--slo-p99`: this many times the lowest-load step's p99.
pub const KNEE_MULTIPLE: f64 = 3.0;

/// Longest one `nines node` request's load may run: a run still going then stops and is
/// answered with how far it got. With the run's start and teardown the reply comes inside the
/// seed harness's 5 s (docs/node.md).
pub const NODE_RUN_BOUND: Duration = Duration::from_secs(4);

/// Connections `nines hostile` keeps open.
pub const HOSTILE_CONNECTIONS: usize = 100;
/// Connections `nines hostile --mode connect-drop` opens and closes per second.
pub const HOSTILE_RATE: f64 = 100.0;
/// How long `nines hostile` misbehaves.
pub const HOSTILE_DURATION: Duration = Duration::from_secs(10);

/// Driver threads: one per CPU, or half of them when the server is embedded and needs the rest.
pub fn threads(embedded: bool) -> usize {
    if embedded {
        server_workers()
    } else {
        available_cpus()
    }
}

/// Worker threads of the embedded server: half the CPUs (the driver has the other half).
pub fn server_workers() -> usize {
    (available_cpus() / 2).max(1)
}
