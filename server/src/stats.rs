//! Server counters: written by one thread each, read by anyone, never locked.
//!
//! Every worker and acceptor owns one cache-line-aligned block of counters and is the only thread
//! that writes it, so an update is a plain load and store (no `lock` prefix, no shared cache line).
//! Readers (the Stats op, shutdown, tests) sum all blocks. Counters are updated once per read
//! batch, not once per request, so they cost nothing measurable on the hot path.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use nines_protocol::DecodeError;

use crate::outcome::{CloseCode, Expiry, HttpError, RequestError};

/// Adds `n` to a counter that only the calling thread writes.
#[inline]
pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Declares every counter once: the per-thread block, the summed snapshot, the sum and the
/// names the Stats op and shutdown print. Adding a counter is one line here.
macro_rules! counters {
    ($( $(#[doc = $doc:literal])* $field:ident => $name:literal, )*) => {
        /// Counters of one worker or acceptor thread, written only by that thread.
        #[derive(Debug, Default)]
        #[repr(align(128))]
        pub struct Counters {
            $( $(#[doc = $doc])* pub $field: AtomicU64, )*
        }

        /// A point-in-time sum of all threads' counters (fields as in [`Counters`]).
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub struct Snapshot {
            $( pub $field: u64, )*
        }

        impl Counters {
            /// Moves these counts into `to` (which other threads also add to) and zeroes them:
            /// how many short-lived threads share one registered block.
            pub fn drain_into(&self, to: &Counters) {
                $(
                    let v = self.$field.swap(0, Relaxed);
                    if v != 0 {
                        to.$field.fetch_add(v, Relaxed);
                    }
                )*
            }
        }

        impl Snapshot {
            fn add(&mut self, c: &Counters) {
                $( self.$field += c.$field.load(Relaxed); )*
            }

            /// Name/value pairs, in the order the Stats op sends them and shutdown prints them.
            pub fn pairs(&self) -> Vec<(&'static str, u64)> {
                vec![$( ($name, self.$field), )*]
            }
        }
    };
}

counters! {
    /// Event-loop worker threads running (pooled model; each adds one when it starts).
    workers => "workers",
    /// Connections accepted (acceptors).
    accepted => "connections_accepted",
    /// Connections closed, for any reason (workers).
    closed => "connections_closed",
    /// Requests handled (frames for the nines protocol, read batches for echo).
    requests => "requests",
    /// Bytes read from clients.
    bytes_in => "bytes_in",
    /// Bytes written to clients.
    bytes_out => "bytes_out",
    /// Connections closed because a frame had a bad magic.
    err_bad_magic => "errors_bad_magic",
    /// Connections closed because a frame had an unsupported version.
    err_unsupported_version => "errors_unsupported_version",
    /// Connections closed because a frame had an unknown op.
    err_unknown_op => "errors_unknown_op",
    /// Connections closed because a frame was larger than `--max-frame`.
    err_frame_too_large => "errors_frame_too_large",
    /// Connections closed after an HTTP request that could not be parsed or answered (400,
    /// 413, 431): the sum of the `errors_http_*` kinds below.
    err_bad_http => "errors_bad_http",
    /// HTTP requests httparse could not read (400).
    err_http_malformed => "errors_http_malformed",
    /// HTTP requests with an invalid, repeated or conflicting Content-Length (400).
    err_http_content_length => "errors_http_content_length",
    /// HTTP/1.1 requests without a Host header, or requests with two (400).
    err_http_host => "errors_http_host",
    /// HTTP request heads over 8 KiB (431).
    err_http_head_too_large => "errors_http_head_too_large",
    /// HTTP request heads with more than 64 header lines (431).
    err_http_too_many_headers => "errors_http_too_many_headers",
    /// HTTP request bodies over --max-frame (413).
    err_http_body_too_large => "errors_http_body_too_large",
    /// HTTP request bodies sent with Transfer-Encoding (413).
    err_http_transfer_encoding => "errors_http_transfer_encoding",
    /// Connections closed after a WebSocket upgrade or frame that was refused: the sum of the
    /// `errors_ws_*` kinds below.
    err_bad_ws => "errors_bad_ws",
    /// WebSocket upgrade requests that were not one (400).
    err_ws_bad_upgrade => "errors_ws_bad_upgrade",
    /// WebSocket connections closed with 1002: a frame or message breaking RFC 6455.
    err_ws_protocol => "errors_ws_protocol",
    /// WebSocket connections closed with 1007: a text message or close reason not UTF-8.
    err_ws_invalid_utf8 => "errors_ws_invalid_utf8",
    /// WebSocket connections closed with 1009: a frame longer than --max-frame.
    err_ws_too_large => "errors_ws_too_large",
    /// Connections closed by a read or write error (reset by peer, broken pipe, ...), TLS
    /// errors after the handshake included.
    err_io => "errors_io",
    /// TLS handshakes refused: not TLS, no version, cipher or ALPN in common, a bad message or
    /// an alert from the client (each closes its connection).
    err_tls_handshake => "errors_tls_handshake",
    /// Full TLS handshakes completed (key exchange and certificate).
    tls_handshakes_full => "tls_handshakes_full",
    /// Resumed TLS handshakes completed (session id, ticket or TLS 1.3 PSK).
    tls_handshakes_resumed => "tls_handshakes_resumed",
    /// accept() failed with EMFILE/ENFILE/ENOBUFS/ENOMEM: the server backed off.
    err_accept_resources => "errors_accept_resources",
    /// accept() failed for another reason.
    err_accept_other => "errors_accept_other",
    /// Work requests whose CPU time was lowered to the server's cap.
    work_capped => "work_capped",
    /// Connections refused because --max-threads connection threads were running.
    refused_max_threads => "refused_max_threads",
    /// Connections closed at once because --max-connections were open and none was idle.
    refused_max_connections => "refused_max_connections",
    /// Idle connections closed to make room for a new one at --max-connections.
    evicted_idle => "evicted_idle",
    /// Connections closed because a request begun was not finished within --read-timeout.
    closed_read_timeout => "closed_read_timeout",
    /// Connections closed because their TLS handshake was not finished within --read-timeout
    /// of the accept: a TLS slowloris. Apart from `closed_read_timeout`, so handshakes that
    /// time out under a storm are seen as such.
    closed_tls_handshake_timeout => "closed_tls_handshake_timeout",
    /// Connections closed after --idle-timeout without a request.
    closed_idle_timeout => "closed_idle_timeout",
    /// Connections closed because their replies made no progress for --send-timeout.
    closed_send_timeout => "closed_send_timeout",
    /// Connections closed under --max-buffered pressure: far over their share, not reading.
    closed_over_budget => "closed_over_budget",
    /// Turns a connection ended with work left, to give the others theirs (fairness).
    turns_yielded => "turns_yielded",
    /// read() calls that returned data.
    reads => "reads",
    /// write() calls that wrote data.
    writes => "writes",
    /// Time in accept(), TCP_NODELAY and the hand-off to a worker (acceptor threads).
    phase_accept_ns => "phase_accept_ns",
    /// Time in read() calls that returned data.
    phase_read_ns => "phase_read_ns",
    /// Time decoding requests, doing what they ask and encoding replies.
    phase_process_ns => "phase_process_ns",
    /// Time in write() calls.
    phase_write_ns => "phase_write_ns",
    /// Time worker threads were awake (not waiting for events); what is not read, process or
    /// write is overhead: event dispatch, wakeups, registration, bookkeeping.
    phase_busy_ns => "phase_busy_ns",
}

/// Phase times a thread accumulates locally and publishes once per loop iteration, so the
/// profile costs clock reads but no shared-memory traffic per request.
#[derive(Debug, Default, Clone, Copy)]
pub struct PhaseTimes {
    /// See [`Counters::phase_read_ns`].
    pub read_ns: u64,
    /// See [`Counters::phase_process_ns`].
    pub process_ns: u64,
    /// See [`Counters::phase_write_ns`].
    pub write_ns: u64,
    /// See [`Counters::phase_busy_ns`].
    pub busy_ns: u64,
    /// See [`Counters::reads`].
    pub reads: u64,
    /// See [`Counters::writes`].
    pub writes: u64,
}

impl PhaseTimes {
    /// Adds these to `c` and starts again from zero.
    pub fn publish(&mut self, c: &Counters) {
        bump(&c.phase_read_ns, self.read_ns);
        bump(&c.phase_process_ns, self.process_ns);
        bump(&c.phase_write_ns, self.write_ns);
        bump(&c.phase_busy_ns, self.busy_ns);
        bump(&c.reads, self.reads);
        bump(&c.writes, self.writes);
        *self = PhaseTimes::default();
    }
}

/// Nanoseconds between two instants (0 if out of order).
#[inline]
pub fn ns_between(a: std::time::Instant, b: std::time::Instant) -> u64 {
    b.saturating_duration_since(a).as_nanos() as u64
}

impl Counters {
    /// Counts a connection closed by a limit.
    pub(crate) fn count_expiry(&self, why: Expiry) {
        bump(
            match why {
                Expiry::Read => &self.closed_read_timeout,
                Expiry::Handshake => &self.closed_tls_handshake_timeout,
                Expiry::Idle => &self.closed_idle_timeout,
                Expiry::Send => &self.closed_send_timeout,
                Expiry::OverBudget => &self.closed_over_budget,
            },
            1,
        );
    }

    /// Counts a connection closed for input it refused: its kind, and for HTTP and WebSocket
    /// also the protocol's total.
    pub(crate) fn count_decode_error(&self, e: &RequestError) {
        let kind = match e {
            RequestError::Frame(DecodeError::BadMagic) => &self.err_bad_magic,
            RequestError::Frame(DecodeError::UnsupportedVersion(_)) => {
                &self.err_unsupported_version
            }
            RequestError::Frame(DecodeError::UnknownOp(_)) => &self.err_unknown_op,
            RequestError::Frame(DecodeError::FrameTooLarge { .. }) => &self.err_frame_too_large,
            RequestError::Http(h) => match h {
                HttpError::Malformed => &self.err_http_malformed,
                HttpError::ContentLength => &self.err_http_content_length,
                HttpError::Host => &self.err_http_host,
                HttpError::HeadTooLarge => &self.err_http_head_too_large,
                HttpError::TooManyHeaders => &self.err_http_too_many_headers,
                HttpError::BodyTooLarge => &self.err_http_body_too_large,
                HttpError::TransferEncoding => &self.err_http_transfer_encoding,
                HttpError::BadUpgrade => &self.err_ws_bad_upgrade,
            },
            RequestError::Ws(w) => match w.close_code() {
                CloseCode::ProtocolError => &self.err_ws_protocol,
                CloseCode::InvalidData => &self.err_ws_invalid_utf8,
                CloseCode::TooBig => &self.err_ws_too_large,
            },
        };
        bump(kind, 1);
        let total = match e {
            RequestError::Frame(_) => return,
            e if e.is_ws() => &self.err_bad_ws,
            _ => &self.err_bad_http,
        };
        bump(total, 1);
    }
}

/// All counter blocks of one running server.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    blocks: Vec<Arc<Counters>>,
}

impl Registry {
    /// Adds and returns a new block for one thread to write.
    pub fn register(&mut self) -> Arc<Counters> {
        let c = Arc::new(Counters::default());
        self.blocks.push(c.clone());
        c
    }

    /// Sums every block into one snapshot.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        for b in &self.blocks {
            s.add(b);
        }
        s
    }
}

/// This process's CPU time so far, from /proc, as Stats pairs: the total over all its threads
/// (exited ones included) and one line per worker and acceptor (not per thread-per-connection
/// thread, of which there may be thousands). This is how a driver on another machine, which
/// cannot read this server's /proc, learns whether a thread of it was saturated.
///
/// /proc counts CPU time in clock ticks (10 ms at the usual 100 Hz), so a reading younger than
/// [`CPU_READING_TTL`] is served again: a flood of Stats requests costs one /proc scan per tick,
/// not one each, and loses no precision.
pub fn cpu_pairs() -> Vec<(String, u64)> {
    use std::sync::Mutex;
    use std::time::Instant;
    type Reading = Option<(Instant, Vec<(String, u64)>)>;
    static LAST: Mutex<Reading> = Mutex::new(None);
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match &*last {
        Some((at, pairs)) if at.elapsed() < CPU_READING_TTL => pairs.clone(),
        _ => {
            let pairs = read_cpu_pairs();
            *last = Some((Instant::now(), pairs.clone()));
            pairs
        }
    }
}

/// How long a /proc CPU reading is served again: one clock tick at 100 Hz.
const CPU_READING_TTL: std::time::Duration = std::time::Duration::from_millis(10);

fn read_cpu_pairs() -> Vec<(String, u64)> {
    use nines_common::cpu;
    use nines_protocol::stats::{CPUS, CPU_NS, THREAD_CPU_NS};
    let me = std::process::id();
    // The whole process: threads that have exited (a thread-per-connection server's, whose
    // connections closed) count too, and the rest of nines-server's threads are idle.
    let mut out = vec![
        (CPU_NS.to_string(), cpu::process(me).unwrap_or(0)),
        (CPUS.to_string(), nines_common::sys::available_cpus() as u64),
    ];
    for t in cpu::threads(me)
        .into_iter()
        .filter(|t| cpu::is_loop_thread(&t.name))
    {
        out.push((format!("{THREAD_CPU_NS}{}:{}", t.name, t.tid), t.ns));
    }
    out
}

impl Snapshot {
    /// Protocol errors of every kind: connections closed for bad input.
    pub fn protocol_errors(&self) -> u64 {
        self.err_bad_magic
            + self.err_unsupported_version
            + self.err_unknown_op
            + self.err_frame_too_large
            + self.err_bad_http
            + self.err_bad_ws
    }
}

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (k, v)) in self.pairs().into_iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_sums_blocks() {
        let mut r = Registry::default();
        let a = r.register();
        let b = r.register();
        bump(&a.requests, 3);
        bump(&b.requests, 4);
        a.count_decode_error(&RequestError::Frame(DecodeError::BadMagic));
        b.count_decode_error(&RequestError::Frame(DecodeError::FrameTooLarge {
            len: 9,
            max: 8,
        }));
        let s = r.snapshot();
        assert_eq!(s.requests, 7);
        assert_eq!(s.protocol_errors(), 2);
        assert!(s.to_string().contains("requests=7"));
    }
}
