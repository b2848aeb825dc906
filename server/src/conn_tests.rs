//! Tests of one connection's state machine (server/src/conn.rs), without sockets: a scripted
//! stream answers each read and write as a row of the table says, and the row says what the
//! connection does after each turn (`Next`, and whether it takes input), what it counted, which
//! replies its client got, how many read and write calls it made, and when a limit expires it.
//! Times are explicit instants, never sleeps.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use nines_protocol::{decode, encode, Flags, Header, Op, HEADER_LEN};

use super::*;
use crate::config::{
    Protocol, ServerConfig, DEFAULT_IDLE_TIMEOUT, DEFAULT_READ_TIMEOUT, DEFAULT_SEND_TIMEOUT,
};
use crate::limits::{Admission, TURN_REQUESTS};
use crate::stats::Registry;

/// Payload of every Echo request here: a 64-byte request, a 64-byte reply.
const PAYLOAD: usize = 24;
const FRAME: usize = HEADER_LEN + PAYLOAD;

/// What the scripted stream's next read returns.
#[derive(Debug, Clone)]
enum R {
    /// These bytes, as many as the buffer takes (the rest on the next read, as a socket does).
    Data(Vec<u8>),
    /// Nothing has arrived (WouldBlock).
    Block,
    /// The peer closed its side.
    Eof,
    /// A socket error.
    Fail(io::ErrorKind),
}

/// What its next write does.
#[derive(Debug, Clone, Copy)]
enum W {
    /// Takes at most this many bytes.
    Take(usize),
    /// The send buffer is full (WouldBlock).
    Block,
    /// A socket error.
    Fail(io::ErrorKind),
}

/// A stream that answers each read and write as its script says. Past the end of its script
/// reads would block and writes take everything, as a client keeping up does.
#[derive(Debug, Default)]
struct Script {
    reads: VecDeque<R>,
    writes: VecDeque<W>,
    written: Vec<u8>,
    read_calls: usize,
    write_calls: usize,
}

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_calls += 1;
        match self.reads.pop_front() {
            None | Some(R::Block) => Err(io::ErrorKind::WouldBlock.into()),
            Some(R::Eof) => Ok(0),
            Some(R::Fail(kind)) => Err(kind.into()),
            Some(R::Data(mut bytes)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    self.reads.push_front(R::Data(bytes.split_off(n)));
                }
                Ok(n)
            }
        }
    }
}

impl Write for Script {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_calls += 1;
        let n = match self.writes.pop_front() {
            None => buf.len(),
            Some(W::Take(n)) => n.min(buf.len()),
            Some(W::Block) => return Err(io::ErrorKind::WouldBlock.into()),
            Some(W::Fail(kind)) => return Err(kind.into()),
        };
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A plain socket's stream: no records of its own, no handshake.
impl Stream for Script {}

/// What gives the connection its turn.
#[derive(Debug, Clone, Copy)]
enum By {
    /// A readiness event.
    Event(Readiness),
    /// Its worker, with no event: after a `Yield` (run queue) or a `Wait` (budget room).
    Resume,
}

const READABLE: By = By::Event(Readiness {
    readable: true,
    writable: false,
    read_closed: false,
});
const WRITABLE: By = By::Event(Readiness {
    readable: false,
    writable: true,
    read_closed: false,
});
const PEER_CLOSED: By = By::Event(Readiness {
    readable: true,
    writable: false,
    read_closed: true,
});

/// One turn and what must follow from it.
#[derive(Debug, Clone, Copy)]
struct Turn {
    /// Budget bytes other connections hold during this turn.
    others: usize,
    by: By,
    next: Next,
    intake: Intake,
}

fn turn(by: By, next: Next, intake: Intake) -> Turn {
    Turn {
        others: 0,
        by,
        next,
        intake,
    }
}

/// When to ask the connection which limit it has run past.
#[derive(Debug, Clone, Copy)]
enum At {
    /// This long after it was accepted.
    Accepted(Duration),
    /// Just under this long after its last turn began: nothing the turn recorded is that old.
    Under(Duration),
    /// This long after its last turn ended: everything the turn recorded is at least that old.
    Past(Duration),
}

/// What the connection counted and its client got, after all turns.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    requests: u64,
    bytes_in: u64,
    bytes_out: u64,
    err_bad_magic: u64,
    err_io: u64,
    read_calls: usize,
    write_calls: usize,
    /// Request ids of the replies the client got, in order.
    replies: Vec<u64>,
    /// Budget room it last waited for.
    needs: usize,
}

struct Case {
    name: &'static str,
    /// `--write-high-water`: the connection's cap while the budget is large.
    high_water: usize,
    /// `--max-buffered`.
    budget: usize,
    reads: Vec<R>,
    writes: Vec<W>,
    turns: Vec<Turn>,
    want: Counts,
    expiry: Vec<(At, Option<Expiry>)>,
}

fn base() -> Case {
    Case {
        name: "",
        high_water: 256 * 1024,
        budget: 64 << 20,
        reads: vec![],
        writes: vec![],
        turns: vec![],
        want: Counts::default(),
        expiry: vec![],
    }
}

/// Echo requests with these ids, back to back.
fn echo(ids: impl IntoIterator<Item = u64>) -> Vec<u8> {
    frames(ids, PAYLOAD)
}

/// Echo requests with these ids and `payload` bytes each, back to back.
fn frames(ids: impl IntoIterator<Item = u64>, payload: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for id in ids {
        encode(&Header::request(Op::Echo, id), &vec![7; payload], &mut v);
    }
    v
}

/// The ids of the replies in `out`, which must be whole reply frames and nothing else.
fn reply_ids(mut out: &[u8]) -> Vec<u64> {
    let mut ids = Vec::new();
    while let Some((f, n)) = decode(out, usize::MAX).expect("the server writes valid frames") {
        assert!(f.header.flags.contains(Flags::RESPONSE));
        ids.push(f.header.request_id);
        out = &out[n..];
    }
    assert!(out.is_empty(), "a reply cut short");
    ids
}

fn cases() -> Vec<Case> {
    use Intake::{Closing, Full, Open, Starved};
    let mut bad = echo([1]);
    bad.extend([b'X'; HEADER_LEN]);
    let many = TURN_REQUESTS as u64 + 2;
    vec![
        Case {
            name: "pipelined requests in one short read: one write, no read that would block",
            reads: vec![R::Data(echo([1, 2]))],
            turns: vec![turn(READABLE, Next::Keep, Open)],
            want: Counts {
                requests: 2,
                bytes_in: 2 * FRAME as u64,
                bytes_out: 2 * FRAME as u64,
                read_calls: 1,
                write_calls: 1,
                replies: vec![1, 2],
                ..Counts::default()
            },
            ..base()
        },
        Case {
            name: "output full at the high-water mark, drained, then reading resumes",
            high_water: 2 * FRAME,
            reads: vec![R::Data(echo(1..=4)), R::Data(echo([5]))],
            writes: vec![W::Block, W::Take(FRAME), W::Block],
            turns: vec![
                // Two replies reach the mark: reading stops, and the write would block.
                turn(READABLE, Next::Keep, Full),
                // Half of it goes: still full.
                turn(WRITABLE, Next::Keep, Full),
                // The rest goes: the two requests read earlier are answered, then the socket
                // is read again in the same turn (no WRITABLE edge would come for that).
                turn(WRITABLE, Next::Keep, Open),
            ],
            want: Counts {
                requests: 5,
                bytes_in: 5 * FRAME as u64,
                bytes_out: 5 * FRAME as u64,
                read_calls: 2,
                write_calls: 6,
                replies: vec![1, 2, 3, 4, 5],
                ..Counts::default()
            },
            ..base()
        },
        Case {
            name: "full: a request held back is not a read timeout",
            high_water: 2 * FRAME,
            reads: vec![R::Data(echo(1..=4))],
            writes: vec![W::Block],
            turns: vec![turn(READABLE, Next::Keep, Full)],
            want: Counts {
                requests: 2,
                bytes_in: 4 * FRAME as u64,
                read_calls: 1,
                write_calls: 1,
                ..Counts::default()
            },
            expiry: vec![(At::Past(DEFAULT_READ_TIMEOUT), None)],
            ..base()
        },
        Case {
            name: "starved: the budget cannot fit the reply, it waits, then goes on",
            budget: 1000,
            reads: vec![R::Data(echo([1])), R::Block],
            turns: vec![
                Turn {
                    others: 1000 - 30,
                    ..turn(READABLE, Next::Wait, Starved)
                },
                // Woken too early: still no room.
                Turn {
                    others: 1000 - 30,
                    ..turn(By::Resume, Next::Wait, Starved)
                },
                // Room: the request read two turns ago is answered, and reading resumes.
                turn(By::Resume, Next::Keep, Open),
            ],
            want: Counts {
                requests: 1,
                bytes_in: FRAME as u64,
                bytes_out: FRAME as u64,
                read_calls: 2,
                write_calls: 1,
                replies: vec![1],
                needs: FRAME,
                ..Counts::default()
            },
            ..base()
        },
        Case {
            name: "a bad frame: the replies before it are flushed, then the connection closes",
            reads: vec![R::Data(bad.clone())],
            writes: vec![W::Block],
            turns: vec![
                turn(READABLE, Next::Keep, Closing),
                turn(WRITABLE, Next::Close, Closing),
            ],
            want: Counts {
                requests: 1,
                bytes_in: bad.len() as u64,
                bytes_out: FRAME as u64,
                err_bad_magic: 1,
                read_calls: 1,
                write_calls: 2,
                replies: vec![1],
                ..Counts::default()
            },
            ..base()
        },
        Case {
            name: "the peer's EOF: what is owed goes out, then the connection closes",
            reads: vec![R::Data(echo([1])), R::Eof],
            turns: vec![turn(PEER_CLOSED, Next::Close, Closing)],
            want: Counts {
                requests: 1,
                bytes_in: FRAME as u64,
                bytes_out: FRAME as u64,
                read_calls: 2,
                write_calls: 1,
                replies: vec![1],
                ..Counts::default()
            },
            ..base()
        },
        Case {
            name: "EOF on a later read, without the close flag",
            reads: vec![R::Data(echo([1])), R::Eof],
            turns: vec![
                turn(READABLE, Next::Keep, Open),
                turn(READABLE, Next::Close, Closing),
            ],
            want: Counts {
                requests: 1,
                bytes_in: FRAME as u64,
                bytes_out: FRAME as u64,
                read_calls: 2,
                write_calls: 1,
                replies: vec![1],
                ..Counts::default()
            },
            ..base()
        },
        Case {
            name: "a reset while reading closes it, counted",
            reads: vec![R::Fail(io::ErrorKind::ConnectionReset)],
            turns: vec![turn(READABLE, Next::Close, Open)],
            want: Counts {
                err_io: 1,
                read_calls: 1,
                ..Counts::default()
            },
            ..base()
        },
        Case {
            name: "a broken pipe while writing closes it, counted",
            reads: vec![R::Data(echo([1]))],
            writes: vec![W::Fail(io::ErrorKind::BrokenPipe)],
            turns: vec![turn(READABLE, Next::Close, Open)],
            want: Counts {
                requests: 1,
                bytes_in: FRAME as u64,
                err_io: 1,
                read_calls: 1,
                write_calls: 1,
                ..Counts::default()
            },
            ..base()
        },
        Case {
            name: "the turn's request allowance spent: yield, and the rest next turn",
            // 130 requests of 40 bytes: a full 4 KiB read and a short one hold them all.
            reads: vec![R::Data(frames(0..many, 0)), R::Block],
            turns: vec![
                turn(READABLE, Next::Yield, Open),
                turn(By::Resume, Next::Keep, Open),
            ],
            want: Counts {
                requests: many,
                bytes_in: many * HEADER_LEN as u64,
                bytes_out: many * HEADER_LEN as u64,
                // Two reads with data in the first turn, one that would block in the second.
                read_calls: 3,
                write_calls: 2,
                replies: (0..many).collect(),
                ..Counts::default()
            },
            ..base()
        },
        Case {
            name: "idle: no request for --idle-timeout since it was accepted",
            expiry: vec![
                (
                    At::Accepted(DEFAULT_IDLE_TIMEOUT - Duration::from_nanos(1)),
                    None,
                ),
                (At::Accepted(DEFAULT_IDLE_TIMEOUT), Some(Expiry::Idle)),
            ],
            ..base()
        },
        Case {
            name: "read timeout: a request begun and not finished",
            reads: vec![R::Data(echo([1])[..10].to_vec())],
            turns: vec![turn(READABLE, Next::Keep, Open)],
            want: Counts {
                bytes_in: 10,
                read_calls: 1,
                ..Counts::default()
            },
            expiry: vec![
                (At::Under(DEFAULT_READ_TIMEOUT), None),
                (At::Past(DEFAULT_READ_TIMEOUT), Some(Expiry::Read)),
            ],
            ..base()
        },
        Case {
            name: "send timeout: replies that make no progress toward the client",
            reads: vec![R::Data(echo([1]))],
            writes: vec![W::Block],
            turns: vec![turn(READABLE, Next::Keep, Open)],
            want: Counts {
                requests: 1,
                bytes_in: FRAME as u64,
                read_calls: 1,
                write_calls: 1,
                ..Counts::default()
            },
            expiry: vec![
                (At::Under(DEFAULT_SEND_TIMEOUT), None),
                (At::Past(DEFAULT_SEND_TIMEOUT), Some(Expiry::Send)),
            ],
            ..base()
        },
        Case {
            name: "send timeout: progress starts it again",
            reads: vec![R::Data(echo([1, 2]))],
            writes: vec![W::Block, W::Take(FRAME), W::Block],
            turns: vec![
                turn(READABLE, Next::Keep, Open),
                turn(WRITABLE, Next::Keep, Open),
            ],
            want: Counts {
                requests: 2,
                bytes_in: 2 * FRAME as u64,
                bytes_out: FRAME as u64,
                read_calls: 1,
                write_calls: 3,
                replies: vec![1],
                ..Counts::default()
            },
            expiry: vec![
                (At::Under(DEFAULT_SEND_TIMEOUT), None),
                (At::Past(DEFAULT_SEND_TIMEOUT), Some(Expiry::Send)),
            ],
            ..base()
        },
    ]
}

/// Runs one row: a connection on a scripted stream, turn by turn, checked after each.
fn run(case: &Case) {
    let mut registry = Registry::default();
    let counters = registry.register();
    let config = ServerConfig {
        protocol: Protocol::Nines,
        write_high_water: case.high_water,
        max_frame_bytes: 64 * 1024,
        ..ServerConfig::default()
    };
    let handler = Handler::new(&config, registry);
    let limits = ConnLimits::new(&config);
    let admission = Arc::new(Admission::new(1));
    admission.admit();
    let budget = Arc::new(BufferBudget::new(case.budget, admission));
    let script = Script {
        reads: case.reads.clone().into(),
        writes: case.writes.clone().into(),
        ..Script::default()
    };
    let accepted = Instant::now();
    let mut conn = Conn::new(script, budget.clone(), accepted);
    let (mut offsets, mut phases) = (Vec::new(), PhaseTimes::default());
    let (mut others, mut began, mut ended) = (0, accepted, accepted);
    for (i, t) in case.turns.iter().enumerate() {
        budget.account(others, t.others);
        others = t.others;
        let mut ctx = Ctx {
            handler: &handler,
            counters: &counters,
            reply_offsets: &mut offsets,
            limits: &limits,
            phases: &mut phases,
        };
        began = Instant::now();
        let next = match t.by {
            By::Event(ev) => conn.on_event(ev, &mut ctx),
            By::Resume => conn.resume(&mut ctx),
        };
        ended = Instant::now();
        assert_eq!(
            (next, conn.intake),
            (t.next, t.intake),
            "{}: turn {i} ({:?})",
            case.name,
            t.by
        );
    }
    for &(at, want) in &case.expiry {
        let now = match at {
            At::Accepted(d) => accepted + d,
            At::Under(d) => began + d - Duration::from_nanos(1),
            At::Past(d) => ended + d,
        };
        assert_eq!(
            conn.expired(now, &limits),
            want,
            "{}: expiry at {at:?}",
            case.name
        );
    }
    let s = conn.stream();
    let got = Counts {
        requests: counters.requests.load(Relaxed),
        bytes_in: counters.bytes_in.load(Relaxed),
        bytes_out: counters.bytes_out.load(Relaxed),
        err_bad_magic: counters.err_bad_magic.load(Relaxed),
        err_io: counters.err_io.load(Relaxed),
        read_calls: s.read_calls,
        write_calls: s.write_calls,
        replies: reply_ids(&s.written),
        needs: conn.needs(),
    };
    assert_eq!(got, case.want, "{}", case.name);
    assert_eq!(
        s.written.len() as u64,
        got.bytes_out,
        "{}: bytes_out counts what the client got",
        case.name
    );
    budget.account(others, 0);
    drop(conn);
    assert_eq!(
        budget.used(),
        0,
        "{}: the budget gets back what the connection held",
        case.name
    );
}

#[test]
fn transitions() {
    for case in cases() {
        run(&case);
    }
}
