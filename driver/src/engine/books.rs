//! A thread's accounting while it runs: the [`Books`] each reply, loss and second are entered
//! in (latencies, counts, bytes, connections), every error through their [`Tally`].

use std::collections::BTreeMap;

use crate::errors::ErrorKind;
use crate::recorder::Recorder;
use crate::target::ReplyKind;

use super::conn::{Cause, Lost, Reply};
use super::control::Control;
use super::handshakes::Handshakes;
use super::intervals;
use super::tally::Tally;

/// A thread's measurements while it runs: what each reply and each loss does to them.
#[derive(Debug)]
pub(crate) struct Books<'a> {
    pub tally: Tally<'a>,
    pub recorder: Recorder,
    pub measure_start_ns: u64,
    pub in_flight: u64,
    pub sent: u64,
    pub capped: u64,
    pub lost: u64,
    pub last_completion_ns: u64,
    /// Reply kinds seen and their counts: a handful, so a list beats a map per reply.
    pub kinds: Vec<(ReplyKind, u64)>,
    pub decode_failures: BTreeMap<&'static str, u64>,
    pub reconnects: u64,
    /// The connections' byte totals (received, sent) when measurement began (none before),
    /// the bytes received by then and by the current interval's start, and at the end. Bytes
    /// are counted by each connection as they cross its socket; these snapshots, taken once a
    /// turn at most, turn them into the measurement's and each second's — nothing per read.
    pub bytes_at_measure_start: Option<(u64, u64)>,
    pub received_at_interval_start: u64,
    pub bytes_at_end: (u64, u64),
    /// Connections established, lost and closed by the driver (a storm's sessions ending) in
    /// the current interval.
    pub interval_opened: u64,
    pub interval_lost: u64,
    pub interval_closed: u64,
    /// How connections were set up (connect and handshake times, failures).
    pub handshakes: Handshakes,
}

impl<'a> Books<'a> {
    /// Books for requests drawn from `lines` lines, kept per stage too when the stages end at
    /// `stage_ends_ns` (after the start of measurement).
    pub(super) fn new(control: &'a Control, lines: usize, stage_ends_ns: Vec<u64>) -> Books<'a> {
        Books {
            tally: Tally::new(control),
            recorder: Recorder::with_lines(lines).with_stages(stage_ends_ns),
            measure_start_ns: u64::MAX,
            in_flight: 0,
            sent: 0,
            capped: 0,
            lost: 0,
            last_completion_ns: 0,
            kinds: Vec::new(),
            decode_failures: BTreeMap::new(),
            reconnects: 0,
            bytes_at_measure_start: None,
            received_at_interval_start: 0,
            bytes_at_end: (0, 0),
            interval_opened: 0,
            interval_lost: 0,
            interval_closed: 0,
            handshakes: Handshakes::default(),
        }
    }

    /// The first time `now` is in the measurement, notes the connections' byte `totals`: the
    /// measurement's bytes count from there (warm-up bytes, like warm-up replies, are not the
    /// measured load).
    #[inline]
    pub(crate) fn note_bytes(&mut self, now: u64, totals: impl FnOnce() -> (u64, u64)) {
        if self.bytes_at_measure_start.is_none() && now >= self.measure_start_ns {
            let t = totals();
            self.bytes_at_measure_start = Some(t);
            self.received_at_interval_start = t.0;
        }
    }

    /// Bytes (received, sent) over the measurement, from the totals at its start to `end`.
    pub(super) fn measured_bytes(&self, end: (u64, u64)) -> (u64, u64) {
        self.bytes_at_measure_start.map_or((0, 0), |s| {
            (end.0.saturating_sub(s.0), end.1.saturating_sub(s.1))
        })
    }

    /// Counts a reply's kind.
    #[inline]
    pub(crate) fn count_kind(&mut self, kind: ReplyKind) {
        match self.kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => self.kinds.push((kind, 1)),
        }
    }

    /// Records a reply received at `now`, or counts it as the error it is.
    #[inline]
    pub(crate) fn on_reply(&mut self, now: u64, reply: Reply, kind: Option<ReplyKind>) {
        if let Some(k) = kind {
            self.count_kind(k);
        }
        match reply {
            Reply::Answered {
                intended_ns,
                sent_ns,
                capped,
                line,
            } => {
                self.in_flight -= 1;
                let warmup = intended_ns < self.measure_start_ns;
                let corrected = now.saturating_sub(intended_ns);
                self.recorder
                    .record(corrected, now.saturating_sub(sent_ns), warmup);
                self.capped += u64::from(capped);
                if !warmup {
                    self.recorder.record_line(line, corrected);
                    self.recorder
                        .record_stage(intended_ns - self.measure_start_ns, corrected);
                    self.last_completion_ns = now;
                }
            }
            Reply::BadPayload { line } => {
                self.in_flight -= 1;
                self.tally.add(ErrorKind::BadPayload, 1);
                self.recorder.line_error(line);
            }
            Reply::Rejected { line } => {
                self.in_flight -= 1;
                self.tally.add(ErrorKind::Rejected, 1);
                self.recorder.line_error(line);
            }
            Reply::Stray => self.tally.add(ErrorKind::UnknownId, 1),
        }
    }

    /// Counts a lost connection: its own error (none when the server closed it as it said it
    /// would) and the requests that went with it.
    pub(crate) fn on_lost(&mut self, lost: Lost) {
        if let Some(f) = lost.refusal {
            self.handshakes.refused(*f);
        }
        match lost.cause {
            Cause::Error(kind) => self.tally.add(kind, 1),
            Cause::Decode(what) => {
                self.tally.add(ErrorKind::Decode, 1);
                *self.decode_failures.entry(what).or_default() += 1;
            }
            // Not lost: the load loop connects again.
            Cause::ServerClosed => return,
        }
        self.aborted(lost.aborted);
    }

    /// Counts requests in flight on a connection that was closed.
    pub(crate) fn aborted(&mut self, n: u64) {
        self.tally.add(ErrorKind::Aborted, n);
        self.in_flight -= n;
        self.lost += 1;
        self.interval_lost += 1;
    }

    /// The current interval's histogram and counts, starting the next; `received` is the
    /// connections' received-bytes total now.
    pub(crate) fn take_interval(
        &mut self,
        received: u64,
    ) -> (hdrhistogram::Histogram<u64>, intervals::Counts) {
        let since = std::mem::replace(&mut self.received_at_interval_start, received);
        let counts = intervals::Counts {
            errors: self.tally.take_interval(),
            opened: std::mem::take(&mut self.interval_opened),
            lost: std::mem::take(&mut self.interval_lost),
            closed: std::mem::take(&mut self.interval_closed),
            received_bytes: received.saturating_sub(since),
        };
        (self.recorder.take_interval(), counts)
    }
}
