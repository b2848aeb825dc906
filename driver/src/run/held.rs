//! What the target holds, read as each second of a run is released: from /proc when its
//! processes are on this machine; from its Stats replies when it is a nines-server elsewhere,
//! on a small reader thread so that a slow server never holds up the second being released.
//!
//! The reader keeps one Stats connection open for the run: a new connection each second would
//! add to the server's accepted and closed counts and to TIME_WAIT, a connect (over TLS a
//! handshake) where one request will do. That one connection, and the server's thread that
//! reads its /proc while polled, are in what the server reports: one socket, one descriptor and
//! one thread more than the load alone accounts for (a thread-per-connection server: two
//! threads), steady over the run.

use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nines_protocol::stats::ProcessUsage;

use super::server_cpu::Meter;
use super::stats::StatsConn;
use crate::host::{self, Usage};
use crate::report::IntervalRecord;
use crate::transport::TlsClient;

/// Longest a reading of a remote server may take, connecting included: one later than the next
/// second is of no use, and a reader this far behind skips seconds rather than queue them.
const READING_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest the reader goes without a reading while no second asks for one.
const KEEP_WARM: Duration = Duration::from_secs(1);
/// Oldest an ask may be when the reader comes to it (after a late reading): past this, its
/// reading would describe a later moment than its second's end, so it goes without.
const LATE_ASK: Duration = Duration::from_millis(250);
/// How long the end of a run waits for a remote reading already asked for.
const SETTLE: Duration = Duration::from_millis(250);

/// Where the target's holdings come from.
#[derive(Debug)]
pub(crate) enum ServerHeld {
    /// Nowhere: an embedded server (inside the driver's own process), or a target that is
    /// neither on this machine nor a nines-server.
    Unseen,
    /// The target's processes, on this machine.
    Local(Vec<u32>),
    /// A nines-server elsewhere, through its Stats replies.
    Remote(Reader),
}

impl ServerHeld {
    /// The source for the target `meter` found; a remote nines-server's reader connects at
    /// once.
    pub(crate) fn of(
        meter: Option<&Meter>,
        addr: SocketAddr,
        tls: Option<Arc<TlsClient>>,
    ) -> ServerHeld {
        match meter {
            Some(Meter::Stats { .. }) => {
                Reader::start(addr, tls).map_or(ServerHeld::Unseen, ServerHeld::Remote)
            }
            Some(m) => m
                .server_pids()
                .map_or(ServerHeld::Unseen, ServerHeld::Local),
            None => ServerHeld::Unseen,
        }
    }

    /// What the target holds now, for the record about to be pushed at `index`: at once from
    /// /proc; from a remote server later, through [`ServerHeld::fill`] (never waited for here).
    pub(crate) fn read(&mut self, index: usize) -> Option<Usage> {
        match self {
            ServerHeld::Unseen => None,
            ServerHeld::Local(pids) => host::usage(pids, true),
            ServerHeld::Remote(r) => {
                r.ask(index);
                None
            }
        }
    }

    /// Puts the remote readings that have arrived into their records.
    /// Whether any arrived.
    pub(crate) fn fill(&mut self, records: &mut [IntervalRecord]) -> bool {
        let mut any = false;
        if let ServerHeld::Remote(r) = self {
            while let Ok(answer) = r.answers.try_recv() {
                r.put(answer, records);
                any = true;
            }
        }
        any
    }

    /// [`ServerHeld::fill`], after waiting a little for a reading still on its way: the end of
    /// the run.
    /// Whether any arrived.
    pub(crate) fn settle(&mut self, records: &mut [IntervalRecord]) -> bool {
        let mut any = self.fill(records);
        if let ServerHeld::Remote(r) = self {
            let deadline = Instant::now() + SETTLE;
            while r.in_flight.is_some() {
                match r
                    .answers
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                {
                    Ok(answer) => {
                        r.put(answer, records);
                        any = true;
                    }
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
        }
        any
    }
}

/// A thread with one Stats connection to a remote nines-server, reading it when asked.
#[derive(Debug)]
pub(crate) struct Reader {
    /// Record indices to read for, and when they were asked; room for one, so asks never wait
    /// (a second asked for while one is queued goes without).
    asks: SyncSender<(usize, Instant)>,
    /// Each ask's reading (none when it failed).
    answers: Receiver<(usize, Option<Usage>)>,
    /// The last index asked for and not yet answered.
    in_flight: Option<usize>,
}

impl Reader {
    fn start(addr: SocketAddr, tls: Option<Arc<TlsClient>>) -> Option<Reader> {
        let (asks, asked) = mpsc::sync_channel(1);
        let (answer, answers) = mpsc::channel();
        std::thread::Builder::new()
            .name("nines-stats".into())
            .spawn(move || read_when_asked(addr, tls.as_deref(), &asked, &answer))
            .ok()?;
        Some(Reader {
            asks,
            answers,
            in_flight: None,
        })
    }

    fn ask(&mut self, index: usize) {
        match self.asks.try_send((index, Instant::now())) {
            Ok(()) => self.in_flight = Some(index),
            // A reading still late, or a server without these readings: this second goes
            // without.
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
        }
    }

    fn put(&mut self, (index, usage): (usize, Option<Usage>), records: &mut [IntervalRecord]) {
        if self.in_flight == Some(index) {
            self.in_flight = None;
        }
        if let Some(held) = records.get_mut(index).and_then(|r| r.held.as_mut()) {
            held.server = usage;
        }
    }
}

/// The reader thread: a reading for each ask, on one connection opened at once (so that it is
/// in the server's counts before the first second is read) and opened again only after a
/// reading failed. Between asks (warm-up, a second released late) it reads anyway once a
/// second, which keeps the server's reading thread going (a server not asked for a while reads
/// its /proc on the thread that answers, held.rs in nines-server) and the connection from
/// being closed as idle. It ends when the run drops its [`Reader`], or at the first reply
/// without the readings (an older nines-server: it will have none later either).
fn read_when_asked(
    addr: SocketAddr,
    tls: Option<&TlsClient>,
    asked: &Receiver<(usize, Instant)>,
    answer: &mpsc::Sender<(usize, Option<Usage>)>,
) {
    let connect = || {
        StatsConn::open(addr, tls, READING_TIMEOUT)
            .inspect_err(|e| tracing::debug!(%e, "no Stats connection for the server's readings"))
            .ok()
    };
    let mut conn = connect();
    loop {
        let index = match asked.recv_timeout(KEEP_WARM) {
            Ok((index, at)) if at.elapsed() > LATE_ASK => {
                if answer.send((index, None)).is_err() {
                    return;
                }
                continue;
            }
            Ok((index, _)) => Some(index),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let started = Instant::now();
        if conn.is_none() {
            conn = connect();
        }
        let reply = conn.as_mut().map(|c| {
            c.fetch(READING_TIMEOUT.saturating_sub(started.elapsed()))
                .inspect_err(|e| tracing::debug!(%e, "no Stats reading of the server"))
        });
        let usage = match reply {
            Some(Ok(pairs)) => match ProcessUsage::from_pairs(&pairs) {
                Some(u) => Some(usage_of(u)),
                None => return,
            },
            Some(Err(_)) => {
                conn = None;
                None
            }
            None => None,
        };
        if let Some(index) = index {
            if answer.send((index, usage)).is_err() {
                return;
            }
        }
    }
}

fn usage_of(u: ProcessUsage) -> Usage {
    Usage {
        rss_bytes: u.rss_bytes,
        fds: u.fds,
        threads: u.threads,
        sockets: u.sockets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::resources::Held;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// How a fake nines-server answers Stats.
    #[derive(Clone, Copy)]
    enum Answer {
        /// With the readings; `fds` is the number of the request on its connection.
        Readings,
        /// Counters only, as a server older than the readings.
        CountersOnly,
        /// Never.
        Silent,
    }

    /// A fake nines-server on 127.0.0.1 answering Stats as told; its address and how many
    /// connections it accepted.
    fn fake(answer: Answer) -> (SocketAddr, Arc<AtomicU64>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let accepted = Arc::new(AtomicU64::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || serve(s, answer));
            }
        });
        (addr, accepted)
    }

    fn serve(mut s: std::net::TcpStream, answer: Answer) {
        let (mut buf, mut chunk, mut n) = (Vec::new(), [0u8; 4096], 0u64);
        while let Ok(read @ 1..) = s.read(&mut chunk) {
            buf.extend_from_slice(&chunk[..read]);
            while let Ok(Some((f, len))) = nines_protocol::decode(&buf, 1 << 20) {
                n += 1;
                let mut body = Vec::new();
                nines_protocol::stats::encode([("requests", n)], &mut body);
                if let Answer::Readings = answer {
                    let u = ProcessUsage {
                        rss_bytes: 1 << 20,
                        fds: n,
                        threads: 2,
                        sockets: 1,
                    };
                    nines_protocol::stats::encode(u.pairs(), &mut body);
                }
                let mut out = Vec::new();
                nines_protocol::encode(&f.header.reply(), &body, &mut out);
                buf.drain(..len);
                if !matches!(answer, Answer::Silent) && s.write_all(&out).is_err() {
                    return;
                }
            }
        }
    }

    /// Records as the watch pushes them: each with the driver's holdings, the server's to come.
    fn records(n: usize) -> Vec<IntervalRecord> {
        let h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        (0..n)
            .map(|i| IntervalRecord {
                held: Some(Held {
                    server: None,
                    driver: Usage::default(),
                }),
                ..IntervalRecord::new(i as f64, 1.0, &h, 0)
            })
            .collect()
    }

    /// Asks for record `i` and waits (up to 5 s) until its reading is in.
    fn ask_and_wait(held: &mut ServerHeld, recs: &mut [IntervalRecord], i: usize) {
        assert_eq!(held.read(i), None, "a remote reading is never at hand");
        let deadline = Instant::now() + Duration::from_secs(5);
        while recs[i].held.unwrap().server.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            held.fill(recs);
        }
    }

    fn server_of(r: &IntervalRecord) -> Option<Usage> {
        r.held.and_then(|h| h.server)
    }

    /// Each second asked for gets its own reading, into its own record, all on the one
    /// connection the reader keeps open.
    #[test]
    fn a_remote_server_is_read_each_second_on_one_connection() {
        let (addr, accepted) = fake(Answer::Readings);
        let mut held = ServerHeld::Remote(Reader::start(addr, None).unwrap());
        let mut recs = records(3);
        for i in 0..3 {
            ask_and_wait(&mut held, &mut recs, i);
        }
        let fds: Vec<_> = recs.iter().map(|r| server_of(r).map(|u| u.fds)).collect();
        assert_eq!(fds, [Some(1), Some(2), Some(3)]);
        assert_eq!(server_of(&recs[0]).unwrap().rss_bytes, 1 << 20);
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection");
    }

    /// A server older than the readings gives none (the reader stops asking it), and a server
    /// that never answers holds up neither the ask nor the end of the run longer than
    /// [`SETTLE`]; its readings are then missing (none is taken late for a second asked while
    /// it was waited for), and the next one is asked on a new connection.
    #[test]
    fn an_older_server_gives_no_readings_and_a_silent_one_holds_nothing_up() {
        let (addr, _) = fake(Answer::CountersOnly);
        let mut held = ServerHeld::Remote(Reader::start(addr, None).unwrap());
        let mut recs = records(2);
        held.read(0);
        held.settle(&mut recs);
        held.read(1);
        held.settle(&mut recs);
        assert!(recs.iter().all(|r| server_of(r).is_none()));
        let ServerHeld::Remote(r) = &held else {
            unreachable!()
        };
        assert!(
            matches!(
                r.asks.try_send((2, Instant::now())),
                Err(TrySendError::Disconnected(_))
            ),
            "the reader stopped"
        );

        let (addr, accepted) = fake(Answer::Silent);
        let mut held = ServerHeld::Remote(Reader::start(addr, None).unwrap());
        let mut recs = records(3);
        let t = Instant::now();
        held.read(0);
        assert!(t.elapsed() < Duration::from_millis(50), "{:?}", t.elapsed());
        // Asked while the first is late: queued, and by the time the first has timed out too
        // old to describe its second, so answered (with nothing) at once, not read late.
        let in_flight = |h: &ServerHeld| match h {
            ServerHeld::Remote(r) => r.in_flight,
            _ => None,
        };
        // (The queue has room once the reader has taken the first ask.)
        while in_flight(&held) != Some(1) && t.elapsed() < READING_TIMEOUT / 2 {
            held.read(1);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(in_flight(&held), Some(1));
        while in_flight(&held).is_some() && t.elapsed() < 5 * READING_TIMEOUT {
            std::thread::sleep(Duration::from_millis(5));
            held.fill(&mut recs);
        }
        let answered_in = t.elapsed();
        assert_eq!(in_flight(&held), None);
        assert!(
            answered_in < READING_TIMEOUT + Duration::from_millis(500),
            "{answered_in:?}"
        );
        let t = Instant::now();
        held.read(2);
        held.settle(&mut recs);
        let settled_in = t.elapsed();
        assert!(
            settled_in < SETTLE + Duration::from_millis(100),
            "{settled_in:?}"
        );
        assert!(recs.iter().all(|r| server_of(r).is_none()));
        // The first reading timed out, so the next is asked on a connection of its own.
        let deadline = Instant::now() + Duration::from_secs(5);
        while accepted.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(accepted.load(Ordering::SeqCst) >= 2);
    }
}
