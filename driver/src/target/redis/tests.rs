//! The RESP codec's tables: replies whole and cut at every byte, a 512 MB bulk string in
//! 64 KiB reads, a line with no end, and arrays and replies past their bounds.

use super::*;
use crate::target::feed::{feed, same_at_every_cut, Seen};

fn codec(command: &str) -> RedisCodec {
    RedisCodec::new(&[&RequestSpec::Redis(RedisRequest {
        command: command.into(),
        keyspace: 10,
        data_bytes: 3.into(),
        ..RedisRequest::default()
    })])
}

fn decoded(c: &mut RedisCodec, b: &[u8]) -> Response {
    match c.decode(b, Some(Sent::of(4, 0)), &mut Vec::new()) {
        Ok(Some(Decoded::Reply(r))) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn commands_encode_as_resp_arrays_with_keys_and_data() {
    let mut c = codec("SET key:__rand__ __data__");
    let mut out = Vec::new();
    c.encode_request(&Sent::of(1, 0), &mut out);
    let s = String::from_utf8(out).unwrap();
    assert!(
        s.starts_with("*3\r\n$3\r\nSET\r\n$16\r\nkey:0000000000"),
        "{s}"
    );
    assert!(s.ends_with("\r\n$3\r\nxxx\r\n"), "{s}");
    // A command is itself a RESP array.
    let r = decoded(&mut codec("PING"), s.as_bytes());
    assert_eq!((r.kind.unwrap().as_str(), r.consumed), ("array", s.len()));
}

#[test]
fn replies_are_typed_checked_and_errors_named() {
    let mut get = codec("GET k");
    let r = decoded(&mut get, b"$3\r\nabc\r\n");
    assert_eq!((r.verdict, r.consumed, r.id), (Verdict::Ok, 9, 4));
    assert_eq!(decoded(&mut get, b"$-1\r\n").kind.unwrap().as_str(), "nil");
    assert_eq!(decoded(&mut get, b":1\r\n").verdict, Verdict::WrongContent);
    let e = decoded(&mut get, b"-WRONGTYPE Operation against a key\r\n");
    assert_eq!(
        (e.verdict, e.kind.unwrap().as_str()),
        (Verdict::Rejected, "error WRONGTYPE")
    );
    // A bulk string is taken as it comes; the reply is the last piece.
    assert_eq!(
        get.decode(b"$3\r\nab", Some(Sent::of(1, 0)), &mut Vec::new()),
        Ok(Some(Decoded::Partial(6)))
    );
    assert_eq!(decoded(&mut get, b"c\r\n").consumed, 3);
    let nested = b"*2\r\n*1\r\n:1\r\n$1\r\na\r\n";
    let r = decoded(&mut codec("LRANGE l 0 1"), nested);
    assert_eq!(
        (r.kind.unwrap().as_str(), r.consumed),
        ("array", nested.len())
    );
}

#[test]
fn malformed_replies_are_errors_by_kind() {
    let kind = |b: &[u8]| {
        codec("GET k")
            .decode(b, Some(Sent::of(1, 0)), &mut Vec::new())
            .unwrap_err()
            .kind
    };
    assert_eq!(kind(b"HTTP/1.1 200 OK\r\n"), "resp_type");
    assert_eq!(kind(b"$abc\r\n"), "resp_integer");
    assert_eq!(kind(b"$-5\r\n"), "resp_bulk");
    assert_eq!(kind(b"$1\r\nabc\r\n"), "resp_bulk");
    assert_eq!(kind(&b"*1\r\n".repeat(40)), "resp_nesting");
    // Regression (proptest): a reply that starts with CRLF.
    assert_eq!(kind(b"\r\n"), "resp_type");
}

/// The verdict, kind and every byte of each reply, however the reads cut them.
#[test]
fn replies_cut_at_every_byte_give_what_they_give_whole() {
    let kinded = |consumed, verdict, kind: &str| {
        Seen::Reply(Response {
            kind: Some(ReplyKind::new(kind)),
            ..Response::new(consumed, 0, verdict)
        })
    };
    let cases: Vec<(&str, &[u8], Vec<Seen>)> = vec![
        (
            "bulk, nil, error, pipelined",
            b"$5\r\nhello\r\n$-1\r\n-ERR no\r\n",
            vec![
                kinded(11, Verdict::Ok, "bulk"),
                kinded(5, Verdict::Ok, "nil"),
                kinded(9, Verdict::Rejected, "error ERR"),
            ],
        ),
        (
            "nested arrays with bulks, empty arrays and nils",
            b"*3\r\n*2\r\n$1\r\na\r\n*0\r\n$-1\r\n*1\r\n:7\r\n+OK\r\n",
            vec![
                kinded(32, Verdict::WrongContent, "array"),
                kinded(5, Verdict::WrongContent, "status"),
            ],
        ),
        (
            "a bulk string without its CRLF",
            b"$2\r\nabX\r\n",
            vec![Seen::Error("resp_bulk")],
        ),
        ("an array begun", b"*2\r\n$3\r\nab", vec![]),
    ];
    for (name, wire, mut want) in cases {
        for (id, seen) in (1..).zip(want.iter_mut()) {
            if let Seen::Reply(r) = seen {
                r.id = id;
            }
        }
        let fed = same_at_every_cut(|| Box::new(codec("GET k")), wire);
        assert_eq!(fed.seen, want, "{name}");
    }
}

#[test]
fn a_512_mb_bulk_in_an_array_never_holds_more_than_a_line() {
    let mut wire = b"*2\r\n$536870912\r\n".to_vec();
    wire.resize(wire.len() + (512 << 20), b'x');
    wire.extend_from_slice(b"\r\n:1\r\n");
    let ends: Vec<usize> = (1..wire.len() / 65536 + 1).map(|i| i * 65536 - 7).collect();
    let fed = feed(&mut codec("LRANGE l 0 1"), &wire, &ends, 1);
    let [Seen::Reply(r)] = fed.seen[..] else {
        panic!("{:?}", fed.seen);
    };
    assert_eq!((r.consumed, r.verdict), (wire.len(), Verdict::Ok));
    assert!(fed.max_pending < 16, "{}", fed.max_pending);
}

#[test]
fn a_line_with_no_end_is_an_error_before_the_bound() {
    let line = [&b"+"[..], &[b'o'; MAX_LINE_BYTES + 100]].concat();
    let ends: Vec<usize> = (1..line.len() / 4096 + 1).map(|i| i * 4096).collect();
    for ends in [&[][..], &ends] {
        let fed = feed(&mut codec("PING"), &line, ends, 1);
        assert_eq!(fed.seen, [Seen::Error("resp_line_too_long")]);
    }
    // A line that ends exactly at the bound is fine.
    let mut fits = [&b"+"[..], &[b'o'; MAX_LINE_BYTES - 3]].concat();
    fits.extend_from_slice(b"\r\n");
    assert_eq!(decoded(&mut codec("PING"), &fits).consumed, MAX_LINE_BYTES);
}

/// A codec taking replies of at most `max` bytes.
fn bounded(max: u64) -> RedisCodec {
    RedisCodec::new(&[&RequestSpec::Redis(RedisRequest {
        command: "LRANGE l 0 -1".into(),
        max_response_bytes: max,
        ..RedisRequest::default()
    })])
}

#[test]
fn arrays_past_hiredis_and_replies_past_the_bound_are_refused_by_kind() {
    const MAX: u64 = 1 << 20;
    // An array announcing 2^63 - 1 elements (or 2^32): refused from its first line.
    for n in [i64::MAX, 1 << 32] {
        let wire = format!("*{n}\r\n:1\r\n");
        let fed = same_at_every_cut(|| Box::new(bounded(MAX)), wire.as_bytes());
        assert_eq!(fed.seen, [Seen::Error("too_many_elements")], "{n}");
    }
    let too_large = || vec![Seen::Error("response_too_large")];
    // A bulk string announcing more: refused before its data.
    let fed = same_at_every_cut(|| Box::new(bounded(MAX)), b"$1048577\r\nab");
    assert_eq!(fed.seen, too_large());
    // Elements that go on past it, flat or nested as deep as allowed.
    let flat = [&b"*4294967295\r\n"[..], &b":1\r\n".repeat(300_000)].concat();
    let nested = [
        &b"*1000000\r\n".repeat(MAX_DEPTH)[..],
        &b":1\r\n".repeat(300_000),
    ]
    .concat();
    for wire in [&flat, &nested] {
        let ends: Vec<usize> = (1..wire.len() / 65536 + 1).map(|i| i * 65536).collect();
        assert_eq!(feed(&mut bounded(MAX), wire, &ends, 1).seen, too_large());
    }
    // A reply of the bound to the byte, in 64 KiB reads, is a reply; the next one starts
    // counting afresh.
    let len = MAX as usize - "*1\r\n$1048566\r\n\r\n".len();
    let mut fits = format!("*1\r\n${len}\r\n").into_bytes();
    fits.resize(fits.len() + len, b'x');
    fits.extend_from_slice(b"\r\n");
    assert_eq!(fits.len() as u64, MAX);
    let twice = [&fits[..], &fits[..]].concat();
    let ends: Vec<usize> = (1..twice.len() / 65536 + 1).map(|i| i * 65536).collect();
    let fed = feed(&mut bounded(MAX), &twice, &ends, 1);
    assert!(
        matches!(fed.seen[..], [Seen::Reply(_), Seen::Reply(_)]),
        "{:?}",
        fed.seen
    );
    let fed = feed(&mut bounded(MAX - 1), &fits, &ends, 1);
    assert_eq!(fed.seen, too_large());
}
