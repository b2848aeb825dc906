//! Server counters: written by one thread each, read by anyone, never locked.
//!
//! Every worker and acceptor owns one cache-line-aligned block of counters and is the only thread
//! that writes it, so an update is a plain load and store (no `lock` prefix, no shared cache line).
//! Readers (the Stats op, shutdown, tests) sum all blocks. Counters are updated once per read
//! batch, not once per request, so they cost nothing measurable on the hot path.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use nines_protocol::DecodeError;

/// Adds `n` to a counter that only the calling thread writes.
#[inline]
pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Counters of one worker thread (or, for the accept fields, one acceptor thread).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Counters {
    /// Connections accepted (acceptors) or taken over (workers do not count these).
    pub accepted: AtomicU64,
    /// Connections closed, for any reason.
    pub closed: AtomicU64,
    /// Requests handled (frames for the nines protocol, read batches for echo).
    pub requests: AtomicU64,
    /// Bytes read from clients.
    pub bytes_in: AtomicU64,
    /// Bytes written to clients.
    pub bytes_out: AtomicU64,
    /// Connections closed because a frame had a bad magic.
    pub err_bad_magic: AtomicU64,
    /// Connections closed because a frame had an unsupported version.
    pub err_unsupported_version: AtomicU64,
    /// Connections closed because a frame had an unknown op.
    pub err_unknown_op: AtomicU64,
    /// Connections closed because a frame was larger than `--max-frame`.
    pub err_frame_too_large: AtomicU64,
    /// Connections closed by a read or write error (reset by peer, broken pipe, ...).
    pub err_io: AtomicU64,
    /// accept() failed with EMFILE/ENFILE/ENOBUFS/ENOMEM: the server backed off.
    pub err_accept_resources: AtomicU64,
    /// accept() failed for another reason.
    pub err_accept_other: AtomicU64,
    /// Work requests whose CPU time was lowered to the server's cap.
    pub work_capped: AtomicU64,
}

impl Counters {
    pub(crate) fn count_decode_error(&self, e: &DecodeError) {
        let c = match e {
            DecodeError::BadMagic => &self.err_bad_magic,
            DecodeError::UnsupportedVersion(_) => &self.err_unsupported_version,
            DecodeError::UnknownOp(_) => &self.err_unknown_op,
            DecodeError::FrameTooLarge { .. } => &self.err_frame_too_large,
        };
        bump(c, 1);
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
            s.accepted += b.accepted.load(Relaxed);
            s.closed += b.closed.load(Relaxed);
            s.requests += b.requests.load(Relaxed);
            s.bytes_in += b.bytes_in.load(Relaxed);
            s.bytes_out += b.bytes_out.load(Relaxed);
            s.err_bad_magic += b.err_bad_magic.load(Relaxed);
            s.err_unsupported_version += b.err_unsupported_version.load(Relaxed);
            s.err_unknown_op += b.err_unknown_op.load(Relaxed);
            s.err_frame_too_large += b.err_frame_too_large.load(Relaxed);
            s.err_io += b.err_io.load(Relaxed);
            s.err_accept_resources += b.err_accept_resources.load(Relaxed);
            s.err_accept_other += b.err_accept_other.load(Relaxed);
            s.work_capped += b.work_capped.load(Relaxed);
        }
        s
    }
}

/// A point-in-time sum of all counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // Each field mirrors the `Counters` field of the same name.
pub struct Snapshot {
    pub accepted: u64,
    pub closed: u64,
    pub requests: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub err_bad_magic: u64,
    pub err_unsupported_version: u64,
    pub err_unknown_op: u64,
    pub err_frame_too_large: u64,
    pub err_io: u64,
    pub err_accept_resources: u64,
    pub err_accept_other: u64,
    pub work_capped: u64,
}

impl Snapshot {
    /// Name/value pairs, in the order the Stats op sends them and shutdown prints them.
    pub fn pairs(&self) -> [(&'static str, u64); 13] {
        [
            ("connections_accepted", self.accepted),
            ("connections_closed", self.closed),
            ("requests", self.requests),
            ("bytes_in", self.bytes_in),
            ("bytes_out", self.bytes_out),
            ("errors_bad_magic", self.err_bad_magic),
            ("errors_unsupported_version", self.err_unsupported_version),
            ("errors_unknown_op", self.err_unknown_op),
            ("errors_frame_too_large", self.err_frame_too_large),
            ("errors_io", self.err_io),
            ("errors_accept_resources", self.err_accept_resources),
            ("errors_accept_other", self.err_accept_other),
            ("work_capped", self.work_capped),
        ]
    }

    /// Protocol errors of every kind: connections closed for bad input.
    pub fn protocol_errors(&self) -> u64 {
        self.err_bad_magic
            + self.err_unsupported_version
            + self.err_unknown_op
            + self.err_frame_too_large
    }
}

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (k, v) in self.pairs() {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
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
        a.count_decode_error(&DecodeError::BadMagic);
        b.count_decode_error(&DecodeError::FrameTooLarge { len: 9, max: 8 });
        let s = r.snapshot();
        assert_eq!(s.requests, 7);
        assert_eq!(s.protocol_errors(), 2);
        assert!(s.to_string().contains("requests=7"));
    }
}
