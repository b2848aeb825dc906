//! How a connection treats what its stream says beyond bytes (the TLS transport's part of the
//! contract, `transport::Stream`): records the stream holds count in the budget and keep the
//! connection from being drained until its `flush` says they are out; a handshake still under
//! way is held to the read timeout from the accept, and so is a record begun after it, like a
//! request in part; how the handshake ended is counted. A
//! sealed stream stands in for TLS here, with no sockets and no cryptography.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use nines_protocol::{encode, Header, Op};

use super::*;
use crate::config::{Protocol, ServerConfig, DEFAULT_IDLE_TIMEOUT, DEFAULT_READ_TIMEOUT};
use crate::limits::{Admission, TURN_REQUESTS};
use crate::stats::Registry;

/// A stream that seals what it is given into "records" it holds until a flush lets them go.
#[derive(Debug, Default)]
struct Sealed {
    /// What reads return, as much as each buffer takes; then reads would block (or fail,
    /// with `refuse`).
    input: Vec<u8>,
    /// Reads fail as a refused handshake does.
    refuse: bool,
    /// Bytes held, not yet on the wire.
    records: usize,
    /// What each flush does: false would block, true sends everything. Past the end: true.
    flushes: VecDeque<bool>,
    opening: bool,
    setup: Option<Setup>,
    /// A record has begun to arrive and not ended.
    pending: bool,
}

impl Read for Sealed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.input.is_empty() {
            // What does not fit stays here, as decrypted records stay in a TLS layer, where
            // no readiness event will report it.
            let n = self.input.len().min(buf.len());
            buf[..n].copy_from_slice(&self.input[..n]);
            self.input.drain(..n);
            return Ok(n);
        }
        if self.refuse {
            self.opening = false;
            self.setup = Some(Setup::Failed);
            return Err(io::ErrorKind::InvalidData.into());
        }
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Write for Sealed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.records += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.flushes.pop_front().unwrap_or(true) {
            self.records = 0;
            Ok(())
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }
}

impl Stream for Sealed {
    fn held(&self) -> usize {
        self.records
    }

    fn opening(&self) -> bool {
        self.opening
    }

    fn setup(&mut self) -> Option<Setup> {
        self.setup.take()
    }

    fn pending_input(&self) -> bool {
        self.pending
    }
}

/// What a connection's turns need, for one connection on `stream`.
struct World {
    handler: Handler,
    limits: ConnLimits,
    counters: Arc<Counters>,
    budget: Arc<BufferBudget>,
    conn: Conn<Sealed>,
    accepted: Instant,
}

impl World {
    fn new(stream: Sealed) -> World {
        let mut registry = Registry::default();
        let counters = registry.register();
        let config = ServerConfig {
            protocol: Protocol::Nines,
            ..ServerConfig::default()
        };
        let admission = Arc::new(Admission::new(1));
        admission.admit();
        let budget = Arc::new(BufferBudget::new(64 << 20, admission));
        let accepted = Instant::now();
        World {
            handler: Handler::new(&config, registry),
            limits: ConnLimits::new(&config),
            counters,
            conn: Conn::new(stream, budget.clone(), accepted),
            budget,
            accepted,
        }
    }

    fn on(&mut self, readable: bool, writable: bool) -> Next {
        let (mut offsets, mut phases) = (Vec::new(), PhaseTimes::default());
        let mut ctx = Ctx {
            handler: &self.handler,
            counters: &self.counters,
            reply_offsets: &mut offsets,
            limits: &self.limits,
            phases: &mut phases,
        };
        let ev = Readiness {
            readable,
            writable,
            read_closed: false,
        };
        self.conn.on_event(ev, &mut ctx)
    }
}

fn echo_requests(n: u64) -> Vec<u8> {
    let mut v = Vec::new();
    for id in 1..=n {
        encode(&Header::request(Op::Echo, id), b"sealed", &mut v);
    }
    v
}

#[test]
fn records_the_stream_holds_count_in_the_budget_until_its_flush_sends_them() {
    let request = echo_requests(1);
    let mut w = World::new(Sealed {
        input: request.clone(),
        flushes: [false].into(),
        ..Sealed::default()
    });
    assert_eq!(w.on(true, false), Next::Keep);
    // The reply left the connection's buffer for the stream, which could not send it yet.
    assert_eq!(w.conn.stream().records, request.len());
    assert!(w.conn.wants_write(), "not drained while records wait");
    assert_eq!(
        w.budget.used(),
        request.len(),
        "held records are in the budget"
    );
    // WRITABLE with nothing of its own to write: the stream's records still go.
    assert_eq!(w.on(false, true), Next::Keep);
    assert_eq!(w.conn.stream().records, 0);
    assert!(!w.conn.wants_write());
    assert_eq!(w.budget.used(), 0);
    assert_eq!(w.counters.requests.load(Relaxed), 1);
}

#[test]
fn a_handshake_under_way_expires_at_the_read_timeout_from_the_accept() {
    let mut w = World::new(Sealed {
        opening: true,
        ..Sealed::default()
    });
    assert_eq!(w.on(true, false), Next::Keep, "nothing to read yet");
    let early = w.accepted + DEFAULT_READ_TIMEOUT - Duration::from_millis(1);
    assert_eq!(w.conn.expired(early, &w.limits), None);
    let late = w.accepted + DEFAULT_READ_TIMEOUT;
    assert_eq!(w.conn.expired(late, &w.limits), Some(Expiry::Handshake));
    // Done, the same connection is only idle, for the idle timeout.
    w.conn.stream_mut().opening = false;
    assert_eq!(w.conn.expired(late, &w.limits), None);
    let idle = w.accepted + DEFAULT_IDLE_TIMEOUT;
    assert_eq!(w.conn.expired(idle, &w.limits), Some(Expiry::Idle));
}

#[test]
fn how_a_handshake_ended_is_counted_once_and_a_refusal_is_not_an_io_error() {
    let mut done = World::new(Sealed {
        setup: Some(Setup::Resumed),
        ..Sealed::default()
    });
    assert_eq!(done.on(true, false), Next::Keep);
    assert_eq!(done.on(true, false), Next::Keep);
    assert_eq!(done.counters.tls_handshakes_resumed.load(Relaxed), 1);
    assert_eq!(done.counters.tls_handshakes_full.load(Relaxed), 0);

    let mut refused = World::new(Sealed {
        opening: true,
        refuse: true,
        ..Sealed::default()
    });
    assert_eq!(refused.on(true, false), Next::Close);
    assert_eq!(refused.counters.err_tls_handshake.load(Relaxed), 1);
    assert_eq!(refused.counters.err_io.load(Relaxed), 0);
}

#[test]
fn input_left_by_a_spent_turn_is_answered_on_the_next_event_whatever_it_reports() {
    // More requests than one turn answers, in the connection's buffer and in the stream (as
    // decrypted records), and the turn's replies cannot all leave: the turn ends with input
    // left and no READABLE to come.
    let extra = 100;
    let mut w = World::new(Sealed {
        input: echo_requests(u64::from(TURN_REQUESTS) + extra),
        flushes: [false].into(),
        ..Sealed::default()
    });
    assert_eq!(w.on(true, false), Next::Keep);
    assert_eq!(w.counters.requests.load(Relaxed), u64::from(TURN_REQUESTS));
    assert!(!w.conn.stream().input.is_empty(), "some left in the stream");
    // WRITABLE alone: the replies go, and the input left is answered too.
    assert_eq!(w.on(false, true), Next::Keep);
    let all = u64::from(TURN_REQUESTS) + extra;
    assert_eq!(w.counters.requests.load(Relaxed), all);
    assert!(w.conn.stream().input.is_empty());
}

#[test]
fn a_record_trickled_after_the_handshake_is_a_request_in_part_for_the_read_timeout() {
    // The handshake is done; a record begins to arrive, its bytes give no plaintext yet.
    let mut w = World::new(Sealed {
        pending: true,
        ..Sealed::default()
    });
    assert_eq!(w.on(true, false), Next::Keep);
    let began = w.conn.partial_since.expect("the read timeout runs");
    assert!(began >= w.accepted);
    // More bytes of the same record do not reset it.
    assert_eq!(w.on(true, false), Next::Keep);
    assert_eq!(w.conn.partial_since, Some(began));
    let late = began + DEFAULT_READ_TIMEOUT;
    assert_eq!(w.conn.expired(late, &w.limits), Some(Expiry::Read));
    // The record ends with a whole request: answered, and nothing is in part any more.
    let request = echo_requests(1);
    w.conn.stream_mut().input = request;
    w.conn.stream_mut().pending = false;
    assert_eq!(w.on(true, false), Next::Keep);
    assert_eq!(w.counters.requests.load(Relaxed), 1);
    assert_eq!(w.conn.partial_since, None);
    assert_eq!(w.conn.expired(late, &w.limits), None);
    // A record that ends giving no plaintext (a KeyUpdate, say) stops it too: nothing is owed.
    w.conn.stream_mut().pending = true;
    assert_eq!(w.on(true, false), Next::Keep);
    assert!(w.conn.partial_since.is_some());
    w.conn.stream_mut().pending = false;
    assert_eq!(w.on(true, false), Next::Keep);
    assert_eq!(w.conn.partial_since, None);
}
