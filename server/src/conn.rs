//! One client connection: its buffers, its reads and writes, and the limits it is held to.
//!
//! Buffers belong to the connection and are reused for its whole life: the read buffer starts
//! small and grows only as far as the largest request the client sends (never past the longest
//! its protocol accepts: `Handler::max_request_bytes`), the write buffer holds replies the
//! socket has not taken yet. Both shrink back after a burst so ten thousand idle connections do
//! not each keep a megabyte.
//!
//! A connection does a bounded amount per turn (`limits::TURN_*`): when its allowance is spent
//! with work left it says [`Next::Yield`] and its worker gives it another turn after the
//! others. It holds at most its bound of unsent replies (its high-water mark, or its fair share
//! of the budget when that is smaller) and stops reading while it does; and it starts a reply
//! only if the reply fits what the process-wide [`BufferBudget`] has left — if not, it says
//! [`Next::Wait`] and its worker wakes it when there is room. It keeps the times the timeouts
//! need, taken from clock reads it makes anyway.
//!
//! A connection is generic over its stream (a `transport::Stream`: `Read + Write`, plus the
//! TLS records it holds, whether its handshake is still under way and whether a record has
//! begun to arrive): the server monomorphises it for its transport over the accepted socket
//! (`sock::Sock`; plain or TLS, one enum), so the seam costs nothing at run time, and the tests
//! (conn_tests.rs) drive every transition through a scripted stream, with exact counts and no
//! sockets. A connection is drained only
//! once its stream's `flush` says the TLS records are out too; that write side lives in
//! `output` (conn/output.rs), the one place bytes leave.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use crate::handler::{Handler, Session};
use crate::limits::{
    BufferBudget, ConnLimits, EVICT_IDLE_AFTER, PRESSURE_STALL, SOURCE_RESUME_BYTES,
};
use crate::outcome::Expiry;
use crate::stats::{bump, ns_between, Counters, PhaseTimes};
use crate::transport::{Setup, Stream};
use crate::turn::{Allowance, Next, Queued, Readiness, SourceRest};

/// First read buffer size; most requests and replies are far smaller.
const INITIAL_READ_BYTES: usize = 4096;
/// Buffers larger than this are released when empty.
const SHRINK_ABOVE_BYTES: usize = 64 * 1024;

/// Whether the connection takes requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intake {
    /// Reading and answering.
    Open,
    /// Holding as much as it may: no reading or answering until its client takes the replies.
    Full,
    /// Its next reply does not fit what the budget has left: no reading or answering until
    /// there is room (or, if it holds replies, until its client takes them).
    Starved,
    /// The peer is done (EOF) or sent a bad frame: write what is owed, then close.
    Closing,
}

/// Things a connection needs from its worker while handling an event.
pub(crate) struct Ctx<'a> {
    pub handler: &'a Handler,
    pub counters: &'a Counters,
    pub reply_offsets: &'a mut Vec<usize>,
    pub limits: &'a ConnLimits,
    pub phases: &'a mut PhaseTimes,
}

#[derive(Debug)]
pub(crate) struct Conn<S> {
    stream: S,
    rbuf: Vec<u8>,
    rlen: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    intake: Intake,
    /// A Source reply still being produced; later requests wait for it.
    source: Option<SourceRest>,
    /// The last turn ran out of allowance with input left, buffered or in the stream (where,
    /// decrypted by TLS, no event reports it): its next event gives it a turn whatever it says.
    unread: bool,
    /// When the last complete request arrived (or the connection was accepted).
    active_at: Instant,
    /// When the request now in part (buffered, or a TLS record in the stream) began to arrive.
    partial_since: Option<Instant>,
    /// Since when unsent replies have made no progress toward the client.
    stalled_since: Option<Instant>,
    /// Unsent bytes counted in the budget.
    held: usize,
    /// Budget room its next reply needs (while starved).
    needs: usize,
    budget: Arc<BufferBudget>,
    /// Where it waits for its next turn in its worker, if anywhere.
    #[cfg_attr(not(feature = "pooled"), allow(dead_code))] // Workers are the pooled model's.
    pub queued: Queued,
    /// What its protocol remembers between reads.
    session: Session,
}

impl<S> Drop for Conn<S> {
    fn drop(&mut self) {
        self.budget.account(self.held, 0);
    }
}

impl<S: Stream> Conn<S> {
    pub fn new(stream: S, budget: Arc<BufferBudget>, now: Instant) -> Conn<S> {
        Conn {
            stream,
            rbuf: Vec::new(),
            rlen: 0,
            wbuf: Vec::new(),
            wpos: 0,
            intake: Intake::Open,
            source: None,
            unread: false,
            active_at: now,
            partial_since: None,
            stalled_since: None,
            held: 0,
            needs: 0,
            budget,
            queued: Queued::No,
            session: Session::default(),
        }
    }

    #[cfg_attr(not(feature = "pooled"), allow(dead_code))]
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    #[cfg_attr(not(feature = "thread-per-connection"), allow(dead_code))]
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// Whether replies (or TLS records) are waiting for the socket to take them.
    #[cfg_attr(not(feature = "thread-per-connection"), allow(dead_code))]
    pub fn wants_write(&self) -> bool {
        self.pending() > 0
    }

    /// Whether it takes input now (a full or closing connection must not be polled for input,
    /// or a client that does not read would make a level-triggered poller spin).
    #[cfg_attr(not(feature = "thread-per-connection"), allow(dead_code))]
    pub fn wants_read(&self) -> bool {
        self.intake == Intake::Open
    }

    /// Budget room it waits for, after [`Next::Wait`].
    pub fn needs(&self) -> usize {
        self.needs
    }

    /// Unsent bytes it holds: replies, and the TLS records its stream has not sent yet.
    fn pending(&self) -> usize {
        self.wbuf.len() - self.wpos + self.stream.held()
    }

    /// The limit this connection has run past at `now`, if any.
    pub fn expired(&self, now: Instant, limits: &ConnLimits) -> Option<Expiry> {
        let past = |since: Option<Instant>, limit: Option<std::time::Duration>| match (since, limit)
        {
            (Some(t), Some(d)) => now.saturating_duration_since(t) >= d,
            _ => false,
        };
        if past(self.stalled_since, limits.send_timeout) {
            return Some(Expiry::Send);
        }
        // A TLS handshake is the first request: it must be done within the read timeout of the
        // accept (`active_at` until a request completes), however its bytes trickle in.
        if self.stream.opening() && past(Some(self.active_at), limits.read_timeout) {
            return Some(Expiry::Handshake);
        }
        // A request waiting only because the connection is full, or behind a Source reply, is
        // not a slow client's doing.
        let reading = self.intake == Intake::Open && self.source.is_none();
        if reading && past(self.partial_since, limits.read_timeout) {
            return Some(Expiry::Read);
        }
        if self.is_idle() && past(Some(self.active_at), limits.idle_timeout) {
            return Some(Expiry::Idle);
        }
        None
    }

    /// Under budget pressure: whether it holds more than twice its share with no progress
    /// toward its client for a while, so closing it is what makes room.
    pub fn over_share(&self, now: Instant) -> bool {
        let stalled = self
            .stalled_since
            .is_some_and(|t| now.saturating_duration_since(t) >= PRESSURE_STALL);
        stalled && self.pending() > 2 * self.budget.share()
    }

    /// Nothing in progress: no request in part, no reply owed.
    fn is_idle(&self) -> bool {
        self.rlen == 0
            && self.source.is_none()
            && !self.wants_write()
            && self.intake != Intake::Closing
    }

    /// How long it has been idle, if it may be closed to make room for a new connection.
    #[cfg_attr(not(feature = "pooled"), allow(dead_code))]
    pub fn evictable_for(&self, now: Instant) -> Option<std::time::Duration> {
        let idle = now.saturating_duration_since(self.active_at);
        (self.is_idle() && idle >= EVICT_IDLE_AFTER).then_some(idle)
    }
}

impl<S: Stream> Conn<S> {
    /// Handles one readiness event.
    pub fn on_event(&mut self, ev: Readiness, ctx: &mut Ctx<'_>) -> Next {
        if ev.writable {
            match self.flush(ctx.counters, ctx.phases) {
                Err(_) => return self.io_error(ctx.counters),
                Ok(true) if self.intake == Intake::Closing => return self.finish(),
                Ok(true) if matches!(self.intake, Intake::Full | Intake::Starved) => {
                    return self.pump(false, ctx)
                }
                Ok(_) => {}
            }
        }
        // Input left when the last turn ran out of allowance raises no event of its own.
        if (ev.readable || ev.read_closed || self.unread) && self.intake == Intake::Open {
            return self.pump(ev.read_closed, ctx);
        }
        Next::Keep
    }

    /// An event for a connection already in the run queue. Its queued turn reads the socket
    /// (a turn reads once its buffered requests are answered), so only its replies move on
    /// now: one connection gets one turn per pass of the loop however often its client writes.
    /// A close is handled at once, as the edge that reports it will not come again.
    #[cfg_attr(not(feature = "pooled"), allow(dead_code))] // Workers are the pooled model's.
    pub fn on_event_queued(&mut self, ev: Readiness, ctx: &mut Ctx<'_>) -> Next {
        if ev.read_closed {
            return self.on_event(ev, ctx);
        }
        if ev.writable && self.wants_write() && self.flush(ctx.counters, ctx.phases).is_err() {
            return self.io_error(ctx.counters);
        }
        Next::Keep
    }

    /// Another turn after a [`Next::Yield`] or [`Next::Wait`], with no new event.
    pub fn resume(&mut self, ctx: &mut Ctx<'_>) -> Next {
        if matches!(self.intake, Intake::Full | Intake::Starved) && self.wants_write() {
            // Still full: WRITABLE will bring it back.
            return Next::Keep;
        }
        self.pump(false, ctx)
    }

    /// One turn: answer what is buffered, read and answer more, write — until the socket has
    /// nothing more for us, cannot take more, or the turn's allowance is spent.
    ///
    /// A full connection comes back to life only after a flush that emptied its write buffer.
    /// If that flush never hit WouldBlock, no WRITABLE edge will follow, so the loop goes on
    /// right here instead of waiting for one.
    fn pump(&mut self, drain_to_eof: bool, ctx: &mut Ctx<'_>) -> Next {
        let mut allow = ctx
            .limits
            .turn(self.budget.cap(ctx.limits.write_high_water));
        loop {
            if matches!(self.intake, Intake::Full | Intake::Starved) {
                self.intake = Intake::Open;
            }
            self.answer_buffered(&mut allow, ctx);
            if self.intake == Intake::Open && !allow.spent() {
                if let Err(()) = self.read_and_answer(drain_to_eof, &mut allow, ctx) {
                    return self.io_error(ctx.counters);
                }
            }
            match self.flush(ctx.counters, ctx.phases) {
                Err(_) => return self.io_error(ctx.counters),
                // WRITABLE will tell us when to go on. If the allowance ran out with requests
                // left, that event must give a turn even if it reports nothing new to read.
                Ok(false) => {
                    self.unread |= allow.spent();
                    return Next::Keep;
                }
                Ok(true) if self.intake == Intake::Closing => return self.finish(),
                // Nothing held, and the next reply does not fit the budget: wait for room.
                Ok(true) if self.intake == Intake::Starved => return Next::Wait,
                // A large reply goes out a high-water mark's worth per turn.
                Ok(true) if self.source.is_some() => return Next::Yield,
                // Spent, even with nothing buffered: its socket may hold more, and waiting for
                // that edge would give it its next turn among the events, ahead of connections
                // that asked for little; from the run queue it comes after them.
                Ok(true) if allow.spent() => return Next::Yield,
                Ok(true) if self.intake == Intake::Full => continue,
                Ok(true) => return Next::Keep,
            }
        }
    }

    /// Bounds the next call to the handler: the connection's cap this turn (its high-water
    /// mark, or its fair share of the budget), and what the budget has left.
    fn bound(&self, allow: &mut Allowance) {
        allow.out_limit = self.wpos + allow.cap;
        allow.budget = self.budget.room();
    }

    /// Notes that the next reply did not fit the budget, and how much room it waits for.
    fn starve(&mut self, needs: usize) {
        if self.intake == Intake::Open {
            self.intake = Intake::Starved;
            self.needs = needs;
        }
    }

    /// Stops intake when the connection holds as much as it may; true if it did.
    fn fill_check(&mut self, allow: &Allowance) -> bool {
        if self.intake == Intake::Open && self.wbuf.len() >= self.wpos + allow.cap {
            self.intake = Intake::Full;
        }
        self.intake == Intake::Full
    }

    /// Produces what is owed from input already read: the rest of a Source reply, then the
    /// buffered requests (after a full spell, or a turn that ran out of allowance).
    fn answer_buffered(&mut self, allow: &mut Allowance, ctx: &mut Ctx<'_>) {
        if self.intake == Intake::Closing {
            return;
        }
        if let Some(mut rest) = self.source.take() {
            self.bound(allow);
            if !ctx
                .handler
                .continue_source(&mut rest, &mut self.wbuf, allow)
            {
                self.source = Some(rest);
                if allow.budget == 0 {
                    self.starve(SOURCE_RESUME_BYTES);
                }
                self.fill_check(allow);
                return;
            }
        }
        if self.rlen > 0
            && !self.fill_check(allow)
            && !allow.spent()
            && !self.handle_input(Instant::now(), allow, ctx)
        {
            self.intake = Intake::Closing;
        }
    }

    /// Reads what is available and answers every complete request, stopping at WouldBlock, at
    /// EOF (closing), when the connection is full, or when the turn's allowance is spent.
    fn read_and_answer(
        &mut self,
        drain_to_eof: bool,
        allow: &mut Allowance,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), ()> {
        self.unread = false;
        while self.intake == Intake::Open && self.source.is_none() {
            if self.fill_check(allow) {
                return Ok(());
            }
            if allow.spent() {
                // The socket may hold more, and no new edge will say so: read next turn.
                self.unread = true;
                return Ok(());
            }
            if self.rlen == self.rbuf.len()
                && !self.grow_read_buffer(ctx.handler.max_request_bytes())
            {
                // Cannot happen with a consistent protocol (a request larger than the cap is
                // refused, with its status, before it fills the buffer), but never spin on a full
                // buffer.
                self.intake = Intake::Closing;
                break;
            }
            let space = self.rbuf.len() - self.rlen;
            let read_start = Instant::now();
            match self.stream.read(&mut self.rbuf[self.rlen..]) {
                Ok(0) => self.intake = Intake::Closing,
                Ok(n) => {
                    let read_at = Instant::now();
                    ctx.phases.read_ns += ns_between(read_start, read_at);
                    ctx.phases.reads += 1;
                    self.rlen += n;
                    bump(&ctx.counters.bytes_in, n as u64);
                    if !self.handle_input(read_at, allow, ctx) {
                        self.intake = Intake::Closing;
                    }
                    // A short read on a stream socket means the receive queue is empty now; new
                    // data raises a new edge, so the extra read() that would only say WouldBlock
                    // is skipped. If the peer's FIN is already queued we keep reading to see it.
                    if n < space && !drain_to_eof && self.source.is_none() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Bytes of a TLS record may have come with no plaintext yet.
                    self.note_partial(Instant::now);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(()),
            }
        }
        self.count_setup(ctx.counters);
        Ok(())
    }

    /// Runs the handler over the read buffer; false when the input was malformed.
    fn handle_input(&mut self, read_at: Instant, allow: &mut Allowance, ctx: &mut Ctx<'_>) -> bool {
        self.bound(allow);
        let (done, ok) = match ctx.handler.process(
            &self.rbuf[..self.rlen],
            &mut self.wbuf,
            read_at,
            ctx.counters,
            ctx.reply_offsets,
            allow,
            &mut self.session,
        ) {
            Ok(p) => (p, true),
            Err((p, e)) => {
                ctx.counters.count_decode_error(&e);
                tracing::debug!(error = %e, "closing connection after a malformed frame");
                (p, false)
            }
        };
        ctx.phases.process_ns += ns_between(read_at, done.finished_at.unwrap_or_else(Instant::now));
        // The protocol ends the connection once its replies are out (HTTP close, WebSocket
        // close, a refused request).
        let ok = ok && !done.close;
        bump(&ctx.counters.requests, done.requests);
        self.source = done.source;
        self.consume(done.consumed, read_at);
        if let Some(needs) = done.starved {
            self.starve(needs);
        }
        self.fill_check(allow);
        ok
    }

    /// Drops `n` answered bytes from the read buffer and keeps the request timers right: a
    /// complete request makes the connection active; a request left in part starts the read
    /// timeout ([`note_partial`](Self::note_partial)).
    fn consume(&mut self, n: usize, read_at: Instant) {
        if n > 0 {
            self.active_at = read_at;
            self.partial_since = None;
        }
        if n == self.rlen {
            self.rlen = 0;
            if self.rbuf.len() > SHRINK_ABOVE_BYTES {
                self.rbuf = Vec::new();
            }
        } else if n > 0 {
            // Keep the partial frame at the front for the next read.
            self.rbuf.copy_within(n..self.rlen, 0);
            self.rlen -= n;
        }
        self.note_partial(|| read_at);
    }

    /// Starts the read timeout when input is left in part, in the read buffer or in the stream
    /// (a TLS record begun), and stops it when none is. Only a complete request or the end of
    /// what was in part stops it, so a slowloris cannot reset it by trickling bytes.
    fn note_partial(&mut self, now: impl FnOnce() -> Instant) {
        if self.rlen == 0 && !self.stream.pending_input() {
            self.partial_since = None;
        } else if self.partial_since.is_none() {
            self.partial_since = Some(now());
        }
    }

    /// Makes room to read; false if the buffer already holds the longest request there is.
    fn grow_read_buffer(&mut self, max_request_bytes: usize) -> bool {
        let cap = max_request_bytes.max(INITIAL_READ_BYTES);
        if self.rbuf.len() >= cap {
            return false;
        }
        let new_len = (self.rbuf.len() * 2).clamp(INITIAL_READ_BYTES, cap);
        self.rbuf.resize(new_len, 0);
        true
    }

    /// Counts how the stream's setup (a TLS handshake) ended, if it just did; true if it failed.
    fn count_setup(&mut self, counters: &Counters) -> bool {
        let Some(setup) = self.stream.setup() else {
            return false;
        };
        let counter = match setup {
            Setup::Full => &counters.tls_handshakes_full,
            Setup::Resumed => &counters.tls_handshakes_resumed,
            Setup::Failed => &counters.err_tls_handshake,
        };
        bump(counter, 1);
        setup == Setup::Failed
    }

    fn io_error(&mut self, counters: &Counters) -> Next {
        // A refused handshake is counted as such, not as an I/O error.
        if !self.count_setup(counters) {
            bump(&counters.err_io, 1);
        }
        Next::Close
    }
}

mod output;

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "conn_stream_tests.rs"]
mod stream_tests;
