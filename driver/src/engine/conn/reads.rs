//! The connection's read table: replies however they arrive and how they are matched, how a
//! connection ends (bytes that are no reply, EOF, errors), and the read buffer's bound — each
//! row a scripted stream and exactly what the connection must make of it.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::script::{In, Script};
use super::tests::{
    answered, http, lost, nines, nines_reply, open, read_all, script, times, Speaker, CLOSE, OK,
};
use super::*;
use crate::target::CodecError;

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
