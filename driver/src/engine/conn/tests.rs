//! The connection's transitions, driven without a socket: a scripted [`Stream`] returns the
//! bytes, WouldBlocks, errors and EOFs each row chooses, and each row says exactly what the
//! connection must make of them (replies, how it ended, what it kept).

use std::io;
use std::net::SocketAddr;

use mio::Token;
use nines_protocol::{encode, payload, Header, Op};

use super::script::{In, Out, Script};
use super::*;
use crate::config::{HttpRequest, NinesOp, RequestSpec, Requests, WsRequest};

/// What a connection speaks: its codec and its picker.
pub(super) type Speaker = (Box<dyn Codec>, Picker);

/// A connection's codec and picker for `spec` alone.
pub(super) fn speaker(spec: RequestSpec) -> Speaker {
    Requests::one(spec).speaker(0)
}

pub(super) fn http() -> Speaker {
    speaker(RequestSpec::Http(HttpRequest::default()))
}

pub(super) fn nines() -> Speaker {
    speaker(RequestSpec::Nines(NinesOp::Echo {
        payload_bytes: 8.into(),
    }))
}

/// A connection open on `script` with requests 1..=`sent` queued and flushed: request `i` due
/// at `100 i` ns and sent 1 ns later.
pub(super) fn open(codec: Speaker, script: Script, sent: u64) -> Conn<Script> {
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
pub(super) fn answered(id: u64) -> Reply {
    Reply::Answered {
        intended_ns: 100 * id,
        sent_ns: 100 * id + 1,
        capped: false,
        line: 0,
    }
}

pub(super) fn lost(cause: Cause, aborted: u64) -> Result<(), Lost> {
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

pub(super) const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
pub(super) const CLOSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi";

pub(super) fn times(bytes: &[u8], n: usize) -> Vec<u8> {
    bytes.repeat(n)
}

pub(super) fn nines_reply(id: u64) -> Vec<u8> {
    let mut p = [0u8; 8];
    payload::fill(id, &mut p);
    let mut out = Vec::new();
    encode(&Header::request(Op::Echo, id).reply(), &p, &mut out);
    out
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
