//! The contract of one call to a protocol's request handling: what it may do in its
//! connection's turn ([`Allowance`]) and what it did ([`Processed`]); and the contract of the
//! turn itself between a connection and the loop that runs it: what woke it (`Readiness`),
//! what it asks for next (`Next`) and where it waits for that (`Queued`).
//!
//! Every protocol (`handler` for nines and echo, `http`, `ws`) and the connection that calls
//! them (`conn`) speak these types, so they live in a leaf below all of them: a protocol never
//! needs the handler that dispatches to it, and the connection's limits (`limits`) can hand out
//! an allowance without knowing any protocol. The loops (`worker`, the thread-per-connection
//! model) and the connection (`conn`) share the turn's types the same way.

use std::time::Instant;

/// How much one connection may still do in this turn of its event loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// Replies stop once the output holds this many bytes: the connection's own bound, which
    /// one reply may pass (so a reply larger than the bound still goes out, alone).
    pub out_limit: usize,
    /// Reply bytes this call may produce at most: what the process-wide budget has left. A
    /// reply that does not fit is not started.
    pub budget: usize,
    /// The most unsent reply bytes the connection may hold this turn (its high-water mark, or
    /// its fair share of the budget); `out_limit` is set from it before each call.
    pub cap: usize,
    /// Requests it may still answer this turn.
    pub requests: u32,
    /// Microseconds of Work it may still ask for this turn.
    pub work_us: u64,
}

impl Allowance {
    /// No bound at all (tests, tools that handle one connection's bytes).
    pub const UNLIMITED: Allowance = Allowance {
        out_limit: usize::MAX,
        budget: usize::MAX,
        cap: usize::MAX,
        requests: u32::MAX,
        work_us: u64::MAX,
    };

    /// Whether the turn's requests or Work time are used up.
    pub fn spent(&self) -> bool {
        self.requests == 0 || self.work_us == 0
    }
}

/// A Source reply whose header is out and whose payload is still being produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRest {
    /// The request's id, which seeds the payload pattern.
    pub(crate) id: u64,
    /// Payload bytes produced so far.
    pub(crate) written: usize,
    /// The whole payload's length.
    pub(crate) len: usize,
}

/// What one call to the handling did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Processed {
    /// Input bytes used; the caller keeps the rest (a partial frame) for the next read.
    pub consumed: usize,
    /// Requests answered (or, for a Source still being produced, started).
    pub requests: u64,
    /// When processing ended, if the handler read the clock (nines replies need it for their
    /// residence time); saves the caller a clock read for the phase profile.
    pub finished_at: Option<Instant>,
    /// A Source reply to finish (`Handler::continue_source`) before any later request.
    pub source: Option<SourceRest>,
    /// It stopped because the next reply did not fit the budget: the room that reply needs.
    pub starved: Option<usize>,
    /// The protocol ends the connection once the replies are sent (HTTP `Connection: close`,
    /// a WebSocket close, a refused request).
    pub close: bool,
}

/// What the worker does with a connection after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Keep it; the next event will say when there is more to do.
    Keep,
    /// Its turn's allowance is spent with work left: give it another turn after the others.
    Yield,
    /// Its next reply does not fit the budget: give it a turn once `Conn::needs` bytes are free.
    Wait,
    /// Drop it (closing the socket).
    Close,
}

/// What woke a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Readiness {
    pub readable: bool,
    pub writable: bool,
    /// The peer closed its side, or the socket has an error: read to the end.
    pub read_closed: bool,
}

/// Where a connection waits for its next turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "pooled"), allow(dead_code))] // Workers are the pooled model's.
pub(crate) enum Queued {
    /// Nowhere: an event brings its next turn.
    No,
    /// In the run queue: its turn was cut short by the turn's allowance.
    Runnable,
    /// On the list of connections waiting for room in the buffered-reply budget.
    Waiting,
}
