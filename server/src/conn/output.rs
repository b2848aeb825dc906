//! The write side of a connection: replies from its buffer to its stream, what stays behind
//! counted in the budget, when the send timeout starts, and the stream's own goodbye. Kept
//! apart from the turn logic (conn.rs) because it is the one place bytes leave, and the one a
//! TLS stream changes: records it holds are unsent bytes like the buffer's, and a connection
//! is drained only when its stream's `flush` says they are out.

use std::io;
use std::time::Instant;

use super::{Conn, INITIAL_READ_BYTES, SHRINK_ABOVE_BYTES};
use crate::stats::{bump, ns_between, Counters, PhaseTimes};
use crate::transport::Stream;
use crate::turn::Next;

impl<S: Stream> Conn<S> {
    /// Writes pending replies; Ok(true) when nothing is left to write. What is left after
    /// trying is counted in the budget, and a write that makes no progress starts the send
    /// timeout.
    pub(super) fn flush(
        &mut self,
        counters: &Counters,
        phases: &mut PhaseTimes,
    ) -> io::Result<bool> {
        let drained = self.write_out(counters, phases);
        let held = self.pending();
        if held != self.held {
            self.budget.account(self.held, held);
            self.held = held;
        }
        drained
    }

    fn write_out(&mut self, counters: &Counters, phases: &mut PhaseTimes) -> io::Result<bool> {
        while self.wpos < self.wbuf.len() {
            let started = Instant::now();
            let result = self.stream.write(&self.wbuf[self.wpos..]);
            phases.write_ns += ns_between(started, Instant::now());
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    phases.writes += 1;
                    self.wpos += n;
                    self.stalled_since = None;
                    bump(&counters.bytes_out, n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stalled_since.get_or_insert(started);
                    // What stays is what the budget counts: drop the bytes already written and
                    // memory the rest does not need (this is the slow path of a client not
                    // keeping up).
                    self.wbuf.drain(..self.wpos);
                    self.wpos = 0;
                    if self.wbuf.capacity() > 2 * self.wbuf.len() + INITIAL_READ_BYTES {
                        self.wbuf.shrink_to(self.wbuf.len());
                    }
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        if self.wbuf.capacity() > SHRINK_ABOVE_BYTES {
            self.wbuf = Vec::new();
        }
        // Drained only when the stream's own bytes (TLS records) are out too; a plain socket
        // holds none and says so at once.
        match self.stream.flush() {
            Ok(()) => {
                self.stalled_since = None;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.stalled_since.get_or_insert_with(Instant::now);
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Everything owed is out and the connection is done: the stream says goodbye on its own
    /// terms (a TLS close_notify, so the client can tell the end from a cut), then it closes.
    pub(super) fn finish(&mut self) -> Next {
        self.stream.finish();
        Next::Close
    }
}
