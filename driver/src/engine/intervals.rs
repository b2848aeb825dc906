//! One-second intervals: each driver thread ships what it recorded in every second of
//! measurement ([`Shipper`]), and the watching thread adds the threads' seconds together in
//! order ([`Merger`]) for progress lines and the report's timeline.
//!
//! Only histograms and counts cross threads, once a second per thread; nothing per request.

use std::collections::BTreeMap;
use std::sync::mpsc::Sender;

use hdrhistogram::Histogram;

use crate::recorder::new_histogram;

/// Length of one interval.
pub const INTERVAL_NS: u64 = 1_000_000_000;

/// What a thread counted in one interval besides latencies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Errors of any kind.
    pub errors: u64,
    /// Connections established (storms; reconnects in other runs).
    pub opened: u64,
    /// Established connections lost.
    pub lost: u64,
    /// Connections the driver closed (a storm's sessions ending).
    pub closed: u64,
    /// Bytes read from the target.
    pub received_bytes: u64,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.errors += o.errors;
        self.opened += o.opened;
        self.lost += o.lost;
        self.closed += o.closed;
        self.received_bytes += o.received_bytes;
    }
}

/// What driver threads tell the thread watching them while the run goes on.
#[derive(Debug)]
pub enum ThreadMsg {
    /// What thread `thread` recorded in measurement interval `index`, which ended at `end_ns`
    /// on the run clock.
    Interval {
        /// Sending thread.
        thread: usize,
        /// Interval number, from 0 at the start of measurement.
        index: u64,
        /// When the interval ended (earlier than a whole second for the last one).
        end_ns: u64,
        /// Corrected latencies of the replies received in it.
        hist: Histogram<u64>,
        /// What it counted in it.
        counts: Counts,
    },
    /// The thread has sent its last interval.
    Done {
        /// Sending thread.
        thread: usize,
    },
}

/// One second of measurement, merged over all driver threads.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Interval number from the start of measurement.
    pub index: u64,
    /// Start, ns after the start of measurement.
    pub offset_ns: u64,
    /// Length in ns (the last one may be short).
    pub duration_ns: u64,
    /// Corrected latencies recorded in it (ns).
    pub hist: Histogram<u64>,
    /// Errors counted in it.
    pub errors: u64,
    /// Connections established in it.
    pub opened: u64,
    /// Connections lost in it.
    pub lost: u64,
    /// Connections the driver closed in it (a storm's sessions ending).
    pub closed: u64,
    /// Bytes read from the target in it.
    pub received_bytes: u64,
}

/// A driver thread's side: sends each finished second to the watcher.
#[derive(Debug)]
pub(crate) struct Shipper {
    thread: usize,
    tx: Option<Sender<ThreadMsg>>,
    index: u64,
    measure_start_ns: u64,
    next_end_ns: u64,
}

impl Shipper {
    pub(crate) fn new(
        thread: usize,
        tx: Option<Sender<ThreadMsg>>,
        measure_start_ns: u64,
    ) -> Shipper {
        Shipper {
            thread,
            tx,
            index: 0,
            measure_start_ns,
            next_end_ns: measure_start_ns + INTERVAL_NS,
        }
    }

    /// The thread it ships for.
    pub(crate) fn thread(&self) -> usize {
        self.thread
    }

    /// Ships every interval that ended by `now`; `take` gives the interval's histogram and
    /// error count and starts the next.
    pub(crate) fn ship_due(
        &mut self,
        now: u64,
        take: &mut impl FnMut() -> (Histogram<u64>, Counts),
    ) {
        while now >= self.next_end_ns {
            let (hist, counts) = take();
            self.send(self.next_end_ns, hist, counts);
            self.next_end_ns += INTERVAL_NS;
        }
    }

    /// Ships what is left (the last, partial interval) and says this thread is done.
    pub(crate) fn finish(&mut self, now: u64, take: &mut impl FnMut() -> (Histogram<u64>, Counts)) {
        if now > self.measure_start_ns {
            self.ship_due(now, take);
            let (hist, counts) = take();
            if !hist.is_empty() || counts != Counts::default() {
                self.send(now, hist, counts);
            }
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(ThreadMsg::Done {
                thread: self.thread,
            });
        }
    }

    fn send(&mut self, end_ns: u64, hist: Histogram<u64>, counts: Counts) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(ThreadMsg::Interval {
                thread: self.thread,
                index: self.index,
                end_ns,
                hist,
                counts,
            });
        }
        self.index += 1;
    }
}

/// The watcher's side: gathers the threads' intervals and releases each, merged, once every
/// thread has sent it (or finished).
#[derive(Debug)]
pub(crate) struct Merger {
    last_sent: Vec<Option<u64>>,
    done: Vec<bool>,
    pending: BTreeMap<u64, (Histogram<u64>, u64, Counts)>,
    next: u64,
}

impl Merger {
    pub(crate) fn new(threads: usize) -> Merger {
        Merger {
            last_sent: vec![None; threads],
            done: vec![false; threads],
            pending: BTreeMap::new(),
            next: 0,
        }
    }

    pub(crate) fn take(&mut self, msg: ThreadMsg) {
        match msg {
            ThreadMsg::Interval {
                thread,
                index,
                end_ns,
                hist,
                counts,
            } => {
                self.last_sent[thread] = Some(index);
                let entry = self
                    .pending
                    .entry(index)
                    .or_insert_with(|| (new_histogram(), 0, Counts::default()));
                // Same bounds everywhere, so `add` cannot fail.
                entry.0.add(&hist).expect("histograms share bounds");
                entry.1 = entry.1.max(end_ns);
                entry.2.add(counts);
            }
            ThreadMsg::Done { thread } => self.done[thread] = true,
        }
    }

    /// Whether any thread has finished (its connections closed, its last second sent).
    pub(crate) fn any_done(&self) -> bool {
        self.done.iter().any(|&d| d)
    }

    /// The next interval every thread is past, if there is one.
    pub(crate) fn ready(&mut self, measure_start_ns: u64) -> Option<Interval> {
        let k = self.next;
        let complete = self
            .last_sent
            .iter()
            .zip(&self.done)
            .all(|(sent, done)| *done || sent.is_some_and(|s| s >= k));
        if !complete {
            return None;
        }
        let (hist, end_ns, counts) = self.pending.remove(&k)?;
        self.next += 1;
        let offset_ns = k * INTERVAL_NS;
        Some(Interval {
            index: k,
            offset_ns,
            duration_ns: end_ns.saturating_sub(measure_start_ns + offset_ns),
            hist,
            errors: counts.errors,
            opened: counts.opened,
            lost: counts.lost,
            closed: counts.closed,
            received_bytes: counts.received_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = new_histogram();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn an_interval_is_released_once_every_thread_is_past_it() {
        let mut m = Merger::new(2);
        let iv = |thread, index, values: &[u64], errors| ThreadMsg::Interval {
            thread,
            index,
            end_ns: 100 + (index + 1) * INTERVAL_NS,
            hist: hist(values),
            counts: Counts {
                errors,
                opened: 1,
                lost: 0,
                closed: 0,
                received_bytes: 10,
            },
        };
        m.take(iv(0, 0, &[10, 20], 1));
        assert!(m.ready(100).is_none(), "thread 1 has not sent interval 0");
        m.take(iv(1, 0, &[30], 2));
        let first = m.ready(100).unwrap();
        assert_eq!((first.index, first.hist.len(), first.errors), (0, 3, 3));
        assert_eq!((first.opened, first.received_bytes), (2, 20));
        assert_eq!(first.duration_ns, INTERVAL_NS);
        m.take(iv(0, 1, &[40], 0));
        assert!(m.ready(100).is_none());
        m.take(ThreadMsg::Done { thread: 1 });
        assert_eq!(m.ready(100).unwrap().hist.len(), 1);
    }
}
