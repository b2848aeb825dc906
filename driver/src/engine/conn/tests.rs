//! The connection's transitions, driven without a socket: a scripted [`Stream`] returns the
//! bytes, WouldBlocks, errors and EOFs each row chooses, and each row says exactly what the
//! connection must make of them (replies, how it ended, what it kept).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mio::Token;
use nines_protocol::{encode, payload, Header, Op};

use super::script::{In, Out, Script};
use super::*;
use crate::config::{HttpRequest, NinesOp, RequestSpec, Requests, WsRequest};
use crate::target::CodecError;

/// What a connection speaks: its codec and its picker.
pub(super) type Speaker = (Box<dyn Codec>, Picker);

/// A connection's codec and picker for `spec` alone.
pub(super) fn speaker(spec: RequestSpec) -> Speaker {
    Requests::one(spec).speaker(0)
}

fn http() -> Speaker {
    speaker(RequestSpec::Http(HttpRequest::default()))
}

fn nines() -> Speaker {
    speaker(RequestSpec::Nines(NinesOp::Echo {
        payload_bytes: 8.into(),
    }))
}

/// A connection open on `script` with requests 1..=`sent` queued and flushed: request `i` due
/// at `100 i` ns and sent 1 ns later.
fn open(codec: Speaker, script: Script, sent: u64) -> Conn<Script> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 9));
    let mut conn = Conn::new(addr, None, Token(0), codec, 0);
    assert!(matches!(
        conn.established(script),
        Connecting::Established(_)
    ));
    for id in 1..=sent {
        conn.send(id, 100 * id, 100 * id + 1);
    }
    assert_eq!(conn.flush(), Ok(()));
    conn
}

pub(super) fn script(conn: &mut Conn<Script>) -> &mut Script {
    match &mut conn.state {
        State::Open(s) | State::Starting(s) | State::Connecting(s) | State::Securing(s) => s,
        State::Closed => panic!("closed"),
    }
}

/// The answer to request `id` as [`open`] sent it.
fn answered(id: u64) -> Reply {
    Reply::Answered {
        intended_ns: 100 * id,
        sent_ns: 100 * id + 1,
        capped: false,
        line: 0,
    }
}

fn lost(cause: Cause, aborted: u64) -> Result<(), Lost> {
    Err(Lost {
        cause,
        aborted,
        refusal: None,
    })
}

/// Reads (one call per readable event) until the script has nothing left or the connection
/// is lost: the replies handed on, and how the last read ended.
pub(super) fn read_all(conn: &mut Conn<Script>) -> (Vec<Reply>, Result<(), Lost>) {
    let clock = RunClock::start();
    let mut replies = Vec::new();
    loop {
        let read = conn.read(clock, false, &mut |_, r, _| replies.push(r));
        let more = conn.is_open() && !script(conn).reads.is_empty();
        if read.is_err() || !more {
            return (replies, read.map(|_| ()));
        }
    }
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi";

fn times(bytes: &[u8], n: usize) -> Vec<u8> {
    bytes.repeat(n)
}

fn nines_reply(id: u64) -> Vec<u8> {
    let mut p = [0u8; 8];
    payload::fill(id, &mut p);
    let mut out = Vec::new();
    encode(&Header::request(Op::Echo, id).reply(), &p, &mut out);
    out
}

/// A row of the read table.
struct ReadRow {
    name: &'static str,
    codec: fn() -> Speaker,
    sent: u64,
    reads: Vec<In>,
    replies: Vec<Reply>,
    end: Result<(), Lost>,
    in_flight: usize,
    open: bool,
    /// The largest read buffer offered, at most.
    largest_read: usize,
}

/// Replies however they arrive, and how they are matched.
fn reply_rows() -> Vec<ReadRow> {
    vec![
        ReadRow {
            name: "one reply in one read",
            codec: http,
            sent: 1,
            reads: vec![In::Bytes(OK.to_vec())],
            replies: vec![answered(1)],
            end: Ok(()),
            in_flight: 0,
            open: true,
            largest_read: INITIAL_READ_BYTES,
        },
        ReadRow {
            name: "a reply in a byte per read",
            codec: http,
            sent: 1,
            reads: OK.iter().map(|&b| In::Bytes(vec![b])).collect(),
            replies: vec![answered(1)],
            end: Ok(()),
            in_flight: 0,
            open: true,
            largest_read: INITIAL_READ_BYTES,
        },
        ReadRow {
            name: "pipelined replies in one read, one short of the third",
            codec: http,
            sent: 3,
            reads: vec![In::Bytes(times(OK, 3)[..OK.len() * 3 - 1].to_vec())],
            replies: vec![answered(1), answered(2)],
            end: Ok(()),
            in_flight: 1,
            open: true,
            largest_read: INITIAL_READ_BYTES,
        },
        ReadRow {
            name: "by id, out of order, and one nobody asked for",
            codec: nines,
            sent: 2,
            reads: vec![In::Bytes(
                [nines_reply(2), nines_reply(9), nines_reply(1)].concat(),
            )],
            replies: vec![answered(2), Reply::Stray, answered(1)],
            end: Ok(()),
            in_flight: 0,
            open: true,
            largest_read: INITIAL_READ_BYTES,
        },
        ReadRow {
            name: "server closes after a reply: what is pipelined behind it is kept",
            codec: http,
            sent: 3,
            reads: vec![In::Bytes([CLOSE, OK].concat())],
            replies: vec![answered(1)],
            end: lost(Cause::ServerClosed, 0),
            in_flight: 2,
            open: true,
            largest_read: INITIAL_READ_BYTES,
        },
    ]
}

/// How a connection ends: bytes that are no reply, EOF, errors.
fn ending_rows() -> Vec<ReadRow> {
    let closed = Cause::Error(ErrorKind::ConnectionClosed);
    vec![
        ReadRow {
            name: "bytes that are no reply",
            codec: http,
            sent: 2,
            reads: vec![In::Bytes(b"SSH-2.0-OpenSSH\r\n\r\n".to_vec())],
            replies: vec![],
            end: lost(Cause::Decode("http_status_line"), 2),
            in_flight: 0,
            open: false,
            largest_read: INITIAL_READ_BYTES,
        },
        ReadRow {
            name: "EOF with requests in flight",
            codec: http,
            sent: 3,
            reads: vec![In::Bytes(OK.to_vec()), In::WouldBlock, In::Eof],
            replies: vec![answered(1)],
            end: lost(closed, 2),
            in_flight: 0,
            open: false,
            largest_read: INITIAL_READ_BYTES,
        },
        ReadRow {
            name: "a reset is a close; an interrupted read is retried",
            codec: http,
            sent: 1,
            reads: vec![
                In::Fail(io::ErrorKind::Interrupted),
                In::Fail(io::ErrorKind::ConnectionReset),
            ],
            replies: vec![],
            end: lost(closed, 1),
            in_flight: 0,
            open: false,
            largest_read: INITIAL_READ_BYTES,
        },
        ReadRow {
            name: "another read error",
            codec: http,
            sent: 1,
            reads: vec![In::Fail(io::ErrorKind::TimedOut)],
            replies: vec![],
            end: lost(Cause::Error(ErrorKind::Io), 1),
            in_flight: 0,
            open: false,
            largest_read: INITIAL_READ_BYTES,
        },
        ReadRow {
            name: "a TLS refusal on an open connection is a failed handshake, told in words",
            codec: http,
            sent: 1,
            reads: vec![In::Refused],
            replies: vec![],
            end: Err(Lost {
                cause: Cause::Error(ErrorKind::TlsHandshake),
                aborted: 1,
                refusal: Some(Box::new(crate::transport::Failure::from_rustls(
                    &super::script::refusal(),
                ))),
            }),
            in_flight: 0,
            open: false,
            largest_read: INITIAL_READ_BYTES,
        },
    ]
}

/// The read buffer's bound: a body streams through it, a head over it is an error.
fn bound_rows() -> Vec<ReadRow> {
    let body_16_mib = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 16 << 20);
    vec![
        ReadRow {
            name: "a 16 MiB body streams through a buffer that stops at 64 KiB",
            codec: http,
            sent: 2,
            reads: vec![
                In::Bytes(body_16_mib.into_bytes()),
                In::Fill(b'x', 16 << 20),
                In::Bytes(OK.to_vec()),
            ],
            replies: vec![answered(1), answered(2)],
            end: Ok(()),
            in_flight: 0,
            open: true,
            largest_read: 64 * 1024,
        },
        ReadRow {
            name: "a head over the codec's bound is its own decode error",
            codec: http,
            sent: 1,
            reads: vec![
                In::Bytes(b"HTTP/1.1 200 OK\r\nX: ".to_vec()),
                In::Fill(b'a', 1 << 20),
            ],
            replies: vec![],
            end: lost(Cause::Decode("http_head_too_large"), 1),
            in_flight: 0,
            open: false,
            largest_read: 64 * 1024,
        },
        ReadRow {
            name: "a body announced past --max-response is its own error, not a decode one",
            codec: http,
            sent: 2,
            reads: vec![In::Bytes(
                b"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n".to_vec(),
            )],
            replies: vec![],
            end: lost(Cause::Error(ErrorKind::ResponseTooLarge), 2),
            in_flight: 0,
            open: false,
            largest_read: INITIAL_READ_BYTES,
        },
    ]
}

#[test]
fn reads_end_as_each_row_says() {
    for row in [reply_rows(), ending_rows(), bound_rows()]
        .into_iter()
        .flatten()
    {
        let mut conn = open((row.codec)(), Script::reading(row.reads), row.sent);
        let (replies, end) = read_all(&mut conn);
        assert_eq!(replies, row.replies, "{}", row.name);
        assert_eq!(end, row.end, "{}", row.name);
        assert_eq!(
            (conn.in_flight(), conn.is_open()),
            (row.in_flight, row.open),
            "{}",
            row.name
        );
        if conn.is_open() {
            let offered = script(&mut conn).largest_read;
            assert!(offered <= row.largest_read, "{}: {offered}", row.name);
        }
    }
}

/// A codec that never finds a reply, and says how much it was shown at most.
#[derive(Debug)]
struct Greedy {
    bound: usize,
    largest_shown: Arc<AtomicUsize>,
}

impl Codec for Greedy {
    fn encode_request(&mut self, _req: &Sent, out: &mut Vec<u8>) {
        out.push(b'?');
    }

    fn decode(
        &mut self,
        buf: &[u8],
        _oldest: Option<Sent>,
        _out: &mut Vec<u8>,
    ) -> Result<Option<Decoded>, CodecError> {
        self.largest_shown.fetch_max(buf.len(), Ordering::Relaxed);
        Ok(None)
    }

    fn max_buffered(&self) -> usize {
        self.bound
    }

    fn replies_carry_ids(&self) -> bool {
        false
    }
}

#[test]
fn a_codec_asking_for_more_than_its_bound_is_a_decode_error_not_an_allocation() {
    for bound in [100, 10_000, 100_000] {
        let shown = Arc::new(AtomicUsize::new(0));
        let codec = Greedy {
            bound,
            largest_shown: shown.clone(),
        };
        let picker = http().1;
        let mut conn = open(
            (Box::new(codec), picker),
            Script::reading(vec![In::Fill(0, 1 << 20)]),
            3,
        );
        let (replies, end) = read_all(&mut conn);
        assert_eq!(replies, []);
        assert_eq!(
            end,
            lost(Cause::Decode(READ_BUFFER_FULL), 3),
            "bound {bound}"
        );
        // The buffer grew to the bound (or one first read), and not a byte further.
        let cap = bound.max(INITIAL_READ_BYTES);
        assert_eq!(shown.load(Ordering::Relaxed), cap, "bound {bound}");
        assert_eq!(conn.transferred().0, cap as u64, "bound {bound}");
    }
}

/// A row of the write table: what each write of the script does, and after each flush, how
/// it ended and how many bytes the socket has taken.
struct WriteRow {
    name: &'static str,
    writes: Vec<Out>,
    flushes: Vec<(Result<(), Lost>, usize)>,
    open: bool,
}

#[test]
fn writes_end_as_each_row_says() {
    let request = HttpRequest::default().render(0).len();
    let all = 3 * request;
    let closed = Cause::Error(ErrorKind::ConnectionClosed);
    let rows = [
        WriteRow {
            name: "output full, the rest kept and flushed later, then open again",
            writes: vec![
                Out::Take(10),
                Out::WouldBlock,
                Out::Take(7),
                Out::WouldBlock,
            ],
            flushes: vec![(Ok(()), 10), (Ok(()), 17), (Ok(()), all), (Ok(()), all)],
            open: true,
        },
        WriteRow {
            name: "an interrupted write is retried",
            writes: vec![Out::Fail(io::ErrorKind::Interrupted)],
            flushes: vec![(Ok(()), all)],
            open: true,
        },
        WriteRow {
            name: "a broken pipe is a close",
            writes: vec![Out::Take(5), Out::Fail(io::ErrorKind::BrokenPipe)],
            flushes: vec![(lost(closed, 3), 5)],
            open: false,
        },
        WriteRow {
            name: "a write of nothing is a close",
            writes: vec![Out::Zero],
            flushes: vec![(lost(closed, 3), 0)],
            open: false,
        },
        WriteRow {
            name: "another write error",
            writes: vec![Out::Fail(io::ErrorKind::PermissionDenied)],
            flushes: vec![(lost(Cause::Error(ErrorKind::Io), 3), 0)],
            open: false,
        },
    ];
    for row in rows {
        let mut conn = open(http(), Script::default(), 0);
        script(&mut conn).writes = row.writes.into();
        for id in 1..=3 {
            conn.send(id, 0, 0);
        }
        for (i, (end, written)) in row.flushes.into_iter().enumerate() {
            let result = conn.flush();
            let (_, sent) = conn.transferred();
            assert_eq!(
                (result, sent),
                (end, written as u64),
                "{} flush {i}",
                row.name
            );
        }
        assert_eq!(conn.is_open(), row.open, "{}", row.name);
        if row.open {
            assert_eq!(
                script(&mut conn).written,
                HttpRequest::default().render(0).repeat(3)
            );
            assert_eq!(conn.wbuf.len(), 0, "{}: nothing left queued", row.name);
        }
    }
}

/// A row of the expiry table: requests 1..=3 sent at 0, 10 and 20 ns, expired at `now`.
struct ExpireRow {
    name: &'static str,
    codec: fn() -> Speaker,
    now: u64,
    timeout_ns: u64,
    expired: Expired,
    in_flight: usize,
    open: bool,
}

#[test]
fn expiry_drops_by_id_and_closes_in_order() {
    let rows = [
        ExpireRow {
            name: "nothing old enough",
            codec: http,
            now: 29,
            timeout_ns: 30,
            expired: Expired::default(),
            in_flight: 3,
            open: true,
        },
        ExpireRow {
            name: "by id: the old ones are dropped, the connection kept",
            codec: nines,
            now: 25,
            timeout_ns: 10,
            expired: Expired {
                timed_out: 2,
                closed_aborting: None,
            },
            in_flight: 1,
            open: true,
        },
        ExpireRow {
            name: "in order: the connection is closed, aborting the rest",
            codec: http,
            now: 25,
            timeout_ns: 10,
            expired: Expired {
                timed_out: 2,
                closed_aborting: Some(1),
            },
            in_flight: 0,
            open: false,
        },
        ExpireRow {
            name: "in order, all of them",
            codec: http,
            now: 100,
            timeout_ns: 10,
            expired: Expired {
                timed_out: 3,
                closed_aborting: Some(0),
            },
            in_flight: 0,
            open: false,
        },
    ];
    for row in rows {
        let mut conn = open((row.codec)(), Script::default(), 0);
        for (id, at) in [(1, 0), (2, 10), (3, 20)] {
            conn.send(id, at, at);
        }
        let expired = conn.expire(row.now, row.timeout_ns);
        assert_eq!(expired, row.expired, "{}", row.name);
        assert_eq!(
            (conn.in_flight(), conn.is_open()),
            (row.in_flight, row.open),
            "{}",
            row.name
        );
    }
}

#[test]
fn a_reply_after_its_request_expired_is_a_stray() {
    let mut conn = open(nines(), Script::default(), 2);
    let expired = conn.expire(250, 100);
    assert_eq!((expired.timed_out, conn.in_flight()), (1, 1));
    script(&mut conn).reads = vec![In::Bytes([nines_reply(1), nines_reply(2)].concat())].into();
    let (replies, end) = read_all(&mut conn);
    assert_eq!((replies, end), (vec![Reply::Stray, answered(2)], Ok(())));
}

#[test]
fn after_a_server_close_the_kept_requests_go_out_again_on_the_next_connection() {
    let mut conn = open(http(), Script::reading(vec![In::Bytes(CLOSE.to_vec())]), 3);
    let (replies, end) = read_all(&mut conn);
    assert_eq!(
        (replies, end),
        (vec![answered(1)], lost(Cause::ServerClosed, 0))
    );
    // What Conn::reconnect does, on a scripted stream instead of a new socket.
    conn.keep_requests_for_reconnect(1_000);
    assert_eq!((conn.is_open(), conn.in_flight()), (false, 2));
    let next = Script::reading(vec![In::Bytes(times(OK, 2))]);
    assert!(matches!(conn.established(next), Connecting::Established(_)));
    conn.resend(2_000);
    assert_eq!(conn.flush(), Ok(()));
    assert_eq!(
        script(&mut conn).written,
        HttpRequest::default().render(0).repeat(2)
    );
    let (replies, end) = read_all(&mut conn);
    let resent = |id: u64| Reply::Answered {
        intended_ns: 100 * id,
        sent_ns: 2_000,
        capped: false,
        line: 0,
    };
    assert_eq!((replies, end), (vec![resent(2), resent(3)], Ok(())));
}

#[test]
fn handshakes_are_read_in_pieces_and_refused_by_kind() {
    let ws = || speaker(RequestSpec::Ws(WsRequest::default()));
    let addr = SocketAddr::from(([127, 0, 0, 1], 9));
    let rows: [(&str, Vec<In>, Result<(), &str>); 3] = [
        (
            "a refusal, a byte per read",
            b"HTTP/1.1 404 Not Found\r\n\r\n"
                .iter()
                .map(|&b| In::Bytes(vec![b]))
                .collect(),
            Err("ws_handshake_status"),
        ),
        (
            "a head longer than the bound",
            vec![
                In::Bytes(b"HTTP/1.1 101 Switching\r\nX: ".to_vec()),
                In::Fill(b'a', 1 << 20),
            ],
            Err("ws_handshake"),
        ),
        (
            "not here yet",
            vec![In::Bytes(b"HTTP/1.1 101".to_vec())],
            Ok(()),
        ),
    ];
    for (name, reads, want) in rows {
        let mut conn = Conn::new(addr, None, Token(0), ws(), 0);
        let mut state = conn.established(Script::reading(reads));
        while matches!(state, Connecting::Pending) && !script(&mut conn).reads.is_empty() {
            state = conn.poll_handshake();
        }
        match want {
            Err(kind) => {
                assert!(
                    matches!(state, Connecting::Refused(k) if k == kind),
                    "{name}: {state:?}"
                );
                assert!(!conn.is_open() && !conn.is_connecting(), "{name}");
            }
            Ok(()) => {
                assert!(matches!(state, Connecting::Pending), "{name}: {state:?}");
                let upgrade = String::from_utf8(script(&mut conn).written.clone()).unwrap();
                assert!(
                    upgrade.starts_with("GET / HTTP/1.1\r\n"),
                    "{name}: {upgrade}"
                );
                assert!(conn.is_connecting(), "{name}");
            }
        }
    }
}
