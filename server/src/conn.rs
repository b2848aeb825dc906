//! One client connection of a pooled worker: its buffers, its reads and writes, its state.
//!
//! Buffers belong to the connection and are reused for its whole life: the read buffer starts
//! small and grows only as far as the largest frame the client sends (never past the frame
//! cap), the write buffer holds replies the socket has not taken yet. Both shrink back after a
//! burst so ten thousand idle connections do not each keep a megabyte.

use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;

use crate::handler::Handler;
use crate::stats::{bump, ns_between, Counters, PhaseTimes};

/// First read buffer size; most requests and replies are far smaller.
const INITIAL_READ_BYTES: usize = 4096;
/// Buffers larger than this are released when empty.
const SHRINK_ABOVE_BYTES: usize = 64 * 1024;

/// What the worker does with a connection after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Keep it registered.
    Keep,
    /// Drop it (closing the socket).
    Close,
}

/// Things a connection needs from its worker while handling an event.
pub(crate) struct Ctx<'a> {
    pub handler: &'a Handler,
    pub counters: &'a Counters,
    pub reply_offsets: &'a mut Vec<usize>,
    pub write_high_water: usize,
    pub max_frame_bytes: usize,
    pub phases: &'a mut PhaseTimes,
}

#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    rbuf: Vec<u8>,
    rlen: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    /// Reading stopped because too many reply bytes are waiting (backpressure).
    paused: bool,
    /// Close as soon as pending replies are written (peer sent EOF, or sent a bad frame).
    closing: bool,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            rbuf: Vec::new(),
            rlen: 0,
            wbuf: Vec::new(),
            wpos: 0,
            paused: false,
            closing: false,
        }
    }

    #[cfg_attr(not(feature = "pooled"), allow(dead_code))]
    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    #[cfg_attr(not(feature = "thread-per-connection"), allow(dead_code))]
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Whether replies are waiting for the socket to take them.
    #[cfg_attr(not(feature = "thread-per-connection"), allow(dead_code))]
    pub fn wants_write(&self) -> bool {
        self.wpos < self.wbuf.len()
    }

    /// Whether reading is paused until pending replies drain (backpressure).
    #[cfg_attr(not(feature = "thread-per-connection"), allow(dead_code))]
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Handles one readiness event.
    pub fn on_event(
        &mut self,
        readable: bool,
        writable: bool,
        read_closed: bool,
        ctx: &mut Ctx<'_>,
    ) -> Next {
        if writable {
            match self.flush(ctx.counters, ctx.phases) {
                Err(_) => return self.io_error(ctx.counters),
                Ok(true) if self.closing => return Next::Close,
                Ok(true) if self.paused => return self.pump(true, ctx),
                Ok(_) => {}
            }
        }
        if (readable || read_closed) && !self.paused && !self.closing {
            return self.pump(read_closed, ctx);
        }
        Next::Keep
    }

    /// Reads, handles and writes until the socket has nothing more for us or cannot take more.
    ///
    /// A paused connection is resumed only after a flush that emptied the write buffer. If that
    /// flush never hit WouldBlock, no WRITABLE edge will follow, so the loop resumes right here
    /// instead of waiting for one (the stall this loop exists to prevent).
    fn pump(&mut self, drain_to_eof: bool, ctx: &mut Ctx<'_>) -> Next {
        loop {
            if self.paused {
                self.paused = false;
                // Requests left buffered when we paused are not announced again: handle them.
                if self.rlen > 0 && !self.handle_input(Instant::now(), ctx) {
                    self.closing = true;
                }
            }
            if let Err(()) = self.read_and_handle(drain_to_eof, ctx) {
                return self.io_error(ctx.counters);
            }
            match self.flush(ctx.counters, ctx.phases) {
                Err(_) => return self.io_error(ctx.counters),
                Ok(false) => return Next::Keep, // WRITABLE will tell us when to go on.
                Ok(true) if self.closing => return Next::Close,
                Ok(true) if self.paused => continue,
                Ok(true) => return Next::Keep,
            }
        }
    }

    /// Reads what is available and handles every complete request, stopping at WouldBlock, at
    /// EOF (sets `closing`), or when too many replies wait to be written (sets `paused`).
    fn read_and_handle(&mut self, drain_to_eof: bool, ctx: &mut Ctx<'_>) -> Result<(), ()> {
        while !self.closing {
            if self.wbuf.len() - self.wpos >= ctx.write_high_water {
                // The client is not reading its replies; stop reading its requests until it does.
                self.paused = true;
                return Ok(());
            }
            if self.rlen == self.rbuf.len() && !self.grow_read_buffer(ctx.max_frame_bytes) {
                // Cannot happen with a consistent decoder (a frame larger than the cap is an error
                // before it fills the buffer), but never spin on a full buffer.
                self.closing = true;
                break;
            }
            let space = self.rbuf.len() - self.rlen;
            let read_start = Instant::now();
            match self.stream.read(&mut self.rbuf[self.rlen..]) {
                Ok(0) => self.closing = true,
                Ok(n) => {
                    let read_at = Instant::now();
                    ctx.phases.read_ns += ns_between(read_start, read_at);
                    ctx.phases.reads += 1;
                    self.rlen += n;
                    bump(&ctx.counters.bytes_in, n as u64);
                    if !self.handle_input(read_at, ctx) {
                        self.closing = true;
                    }
                    // A short read on a stream socket means the receive queue is empty now; new
                    // data raises a new edge, so the extra read() that would only say WouldBlock
                    // is skipped. If the peer's FIN is already queued we keep reading to see it.
                    if n < space
                        && !drain_to_eof
                        && self.wbuf.len() - self.wpos < ctx.write_high_water
                    {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(()),
            }
        }
        Ok(())
    }

    /// Runs the handler over the read buffer; false when the input was malformed.
    fn handle_input(&mut self, read_at: Instant, ctx: &mut Ctx<'_>) -> bool {
        let input = &self.rbuf[..self.rlen];
        // Bound the replies buffered ahead of the socket (backpressure), per request.
        let limit = self.wpos + ctx.write_high_water;
        let (done, ok) = match ctx.handler.process(
            input,
            &mut self.wbuf,
            read_at,
            ctx.counters,
            ctx.reply_offsets,
            limit,
        ) {
            Ok(p) => (p, true),
            Err((p, e)) => {
                ctx.counters.count_decode_error(&e);
                tracing::debug!(error = %e, "closing connection after a malformed frame");
                (p, false)
            }
        };
        ctx.phases.process_ns += ns_between(read_at, done.finished_at.unwrap_or_else(Instant::now));
        bump(&ctx.counters.requests, done.requests);
        if done.consumed == self.rlen {
            self.rlen = 0;
            if self.rbuf.len() > SHRINK_ABOVE_BYTES {
                self.rbuf = Vec::new();
            }
        } else if done.consumed > 0 {
            // Keep the partial frame at the front for the next read.
            self.rbuf.copy_within(done.consumed..self.rlen, 0);
            self.rlen -= done.consumed;
        }
        ok
    }

    /// Makes room to read; false if the buffer is already at the frame cap.
    fn grow_read_buffer(&mut self, max_frame_bytes: usize) -> bool {
        let cap = max_frame_bytes.max(INITIAL_READ_BYTES);
        if self.rbuf.len() >= cap {
            return false;
        }
        let new_len = (self.rbuf.len() * 2).clamp(INITIAL_READ_BYTES, cap);
        self.rbuf.resize(new_len, 0);
        true
    }

    /// Writes pending replies; Ok(true) when nothing is left to write.
    fn flush(&mut self, counters: &Counters, phases: &mut PhaseTimes) -> io::Result<bool> {
        while self.wpos < self.wbuf.len() {
            let started = Instant::now();
            let result = self.stream.write(&self.wbuf[self.wpos..]);
            phases.write_ns += ns_between(started, Instant::now());
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    phases.writes += 1;
                    self.wpos += n;
                    bump(&counters.bytes_out, n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.wpos >= SHRINK_ABOVE_BYTES {
                        self.wbuf.drain(..self.wpos);
                        self.wpos = 0;
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
        Ok(true)
    }

    fn io_error(&mut self, counters: &Counters) -> Next {
        bump(&counters.err_io, 1);
        Next::Close
    }
}
