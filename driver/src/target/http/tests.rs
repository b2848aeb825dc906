//! The HTTP codec's tables: responses whole and cut at every byte, 100 MB bodies in 64 KiB
//! reads, and what would need more than the bound.

use super::*;

use crate::config::Resource;
use crate::target::feed::{feed, same_at_every_cut, Seen};

fn codec() -> HttpCodec {
    HttpCodec::new(&[&RequestSpec::Http(HttpRequest {
        resource: Resource {
            host: "h".into(),
            ..Resource::default()
        },
        accept: vec![404],
        ..HttpRequest::default()
    })])
}

fn reply(c: &mut HttpCodec, bytes: &[u8]) -> Result<Option<Decoded>, CodecError> {
    c.decode(bytes, Some(Sent::of(1, 0)), &mut Vec::new())
}

#[test]
fn content_length_responses_in_pieces_and_pipelined() {
    let one = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    let mut two = one.to_vec();
    two.extend_from_slice(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
    // Short of its last byte a response is no reply (its head is waited for, its body
    // taken as it comes); cut anywhere, the two replies are the same.
    for cut in 0..one.len() {
        let r = reply(&mut codec(), &one[..cut]);
        assert!(
            matches!(r, Ok(None | Some(Decoded::Partial(_)))),
            "cut at {cut}: {r:?}"
        );
    }
    let fed = same_at_every_cut(|| Box::new(codec()), &two);
    assert_eq!(fed.seen.len(), 2);
    let mut c = codec();
    let Some(Decoded::Reply(r)) = reply(&mut c, &two).unwrap() else {
        panic!("no reply");
    };
    assert_eq!(
        (r.consumed, r.verdict, r.close),
        (one.len(), Verdict::Ok, false)
    );
    assert_eq!(r.kind, Some(ReplyKind::status(200)));
    let Some(Decoded::Reply(r)) = reply(&mut c, &two[one.len()..]).unwrap() else {
        panic!("no reply");
    };
    assert_eq!((r.verdict, r.kind.unwrap().as_str()), (Verdict::Ok, "404"));
    let bad = b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let Some(Decoded::Reply(r)) = reply(&mut c, bad).unwrap() else {
        panic!("no reply");
    };
    assert_eq!((r.verdict, r.close), (Verdict::Rejected, true));
}

#[test]
fn chunked_bodies_and_interim_responses() {
    let mut c = codec();
    let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nT: 1\r\n\r\n";
    assert_eq!(reply(&mut c, wire), Ok(Some(Decoded::Skip(25))));
    let body = &wire[25..];
    let fed = same_at_every_cut(|| Box::new(codec()), wire);
    assert_eq!(fed.seen[0], Seen::Skip(25));
    assert!(
        matches!(fed.seen[1], Seen::Reply(r) if r.consumed == body.len()),
        "{fed:?}"
    );
    let Some(Decoded::Reply(r)) = reply(&mut c, body).unwrap() else {
        panic!("no reply");
    };
    assert_eq!(r.consumed, body.len());
}

#[test]
fn malformed_responses_are_errors_by_kind() {
    let kind = |b: &[u8]| reply(&mut codec(), b).unwrap_err().kind;
    assert_eq!(kind(b"HTTP/1.1 2x0 OK\r\n\r\n"), "http_status_line");
    assert_eq!(kind(b"SSH-2.0-OpenSSH\r\n\r\n"), "http_status_line");
    assert_eq!(
        kind(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
        "http_content_length"
    );
    assert_eq!(kind(b"HTTP/1.1 200 OK\r\n\r\n"), "http_no_length");
    assert_eq!(
        kind(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        "http_chunk_size"
    );
    assert_eq!(
        kind(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n"),
        "http_chunk"
    );
}

/// What a response is expected to be, in a table row.
enum Want {
    Reply(u16, Verdict, bool),
    Skip,
}

/// A row's responses on the wire, and what the connection should see of them.
fn expected(responses: &[(&str, Want)]) -> (String, Vec<Seen>) {
    let wire: String = responses.iter().map(|(r, _)| *r).collect();
    let mut id = 0;
    let want = responses
        .iter()
        .map(|(r, want)| match *want {
            Want::Skip => Seen::Skip(r.len()),
            Want::Reply(status, verdict, close) => {
                id += 1;
                Seen::Reply(Response {
                    consumed: r.len(),
                    id,
                    verdict,
                    kind: Some(ReplyKind::status(status)),
                    close,
                })
            }
        })
        .collect();
    (wire, want)
}

/// The verdict and every byte of each response, however the reads cut them.
#[test]
fn bodies_cut_at_every_byte_give_what_they_give_whole() {
    use Want::{Reply, Skip};
    let rows: [(&str, &[(&str, Want)]); 4] = [
        (
            "content-length then close",
            &[
                (
                    "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nhello!!",
                    Reply(200, Verdict::Ok, false),
                ),
                (
                    "HTTP/1.1 500 X\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno",
                    Reply(500, Verdict::Rejected, true),
                ),
            ],
        ),
        (
            "chunks with extensions, pipelined with a 204",
            &[
                (
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n\
                     10\r\n0123456789abcdef\r\n0\r\n\r\n",
                    Reply(200, Verdict::Ok, false),
                ),
                ("HTTP/1.1 204 No\r\n\r\n", Reply(204, Verdict::Ok, false)),
            ],
        ),
        (
            "trailers",
            &[(
                "HTTP/1.1 404 NF\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\
                 A: 1\r\nB: 2\r\n\r\n",
                Reply(404, Verdict::Ok, false),
            )],
        ),
        (
            "interim then content-length",
            &[
                ("HTTP/1.1 103 Hints\r\nLink: x\r\n\r\n", Skip),
                (
                    "HTTP/1.1 302 Found\r\nContent-Length: 1\r\n\r\nx",
                    Reply(302, Verdict::Rejected, false),
                ),
            ],
        ),
    ];
    for (name, responses) in rows {
        let (wire, want) = expected(responses);
        let fed = same_at_every_cut(|| Box::new(codec()), wire.as_bytes());
        assert_eq!((fed.seen, fed.left), (want, 0), "{name}");
    }
    // What is no reply, or not one yet, is the same cut anywhere too.
    for (wire, want, left) in [
        (
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiX\r\n"[..],
            vec![Seen::Error("http_chunk")],
            0,
        ),
        // Longer than the old 1 GiB limit, which was there for the buffer's sake: the default
        // --max-response itself (4 GiB), which is taken.
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 4294967296\r\n\r\nsome",
            vec![],
            0,
        ),
    ] {
        let fed = same_at_every_cut(|| Box::new(codec()), wire);
        assert_eq!((fed.seen, fed.left), (want, left));
    }
}

#[test]
fn a_100_mb_body_in_64_kib_reads_never_holds_more_than_a_head() {
    for chunked in [false, true] {
        let mut wire = Vec::new();
        if chunked {
            wire.extend_from_slice(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            for _ in 0..100 {
                wire.extend_from_slice(b"f4240\r\n");
                wire.resize(wire.len() + 1_000_000, b'x');
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
        } else {
            wire.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n");
            wire.resize(wire.len() + 100_000_000, b'x');
        }
        let ends: Vec<usize> = (1..wire.len() / 65536 + 1).map(|i| i * 65536).collect();
        let fed = feed(&mut codec(), &wire, &ends, 1);
        let [Seen::Reply(r)] = fed.seen[..] else {
            panic!("{:?}", fed.seen);
        };
        assert_eq!((r.consumed, r.verdict), (wire.len(), Verdict::Ok));
        // Waiting only ever for a head or a chunk-size line.
        assert!(
            fed.max_pending < 64,
            "chunked {chunked}: {}",
            fed.max_pending
        );
    }
}

#[test]
fn what_would_need_more_than_the_bound_is_an_error_of_its_kind() {
    let long_head = [
        &b"HTTP/1.1 200 OK\r\nX-Filler: "[..],
        &[b'a'; MAX_HEAD_BYTES],
        b"\r\n\r\n",
    ]
    .concat();
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let long_ext = [&chunked[..], b"5;", &[b'e'; 2000]].concat();
    let long_trailers = [&chunked[..], b"0\r\n", &long_head[17..]].concat();
    for (wire, kind) in [
        (&long_head, "http_head_too_large"),
        (&long_ext, "http_chunk_line_too_long"),
        (&long_trailers, "http_trailers_too_large"),
    ] {
        // Whole, and in 4 KiB reads (as the connection reads them).
        let ends: Vec<usize> = (1..wire.len() / 4096 + 1).map(|i| i * 4096).collect();
        for ends in [&[][..], &ends] {
            let fed = feed(&mut codec(), wire, ends, 1);
            assert_eq!(fed.seen, [Seen::Error(kind)]);
            assert!(fed.max_pending < MAX_HEAD_BYTES);
        }
    }
}

/// A codec taking bodies of at most `max` bytes.
fn bounded(max: u64) -> HttpCodec {
    HttpCodec::new(&[&RequestSpec::Http(HttpRequest {
        max_response_bytes: max,
        ..HttpRequest::default()
    })])
}

#[test]
fn a_body_past_the_bound_is_too_large_when_announced_or_when_it_gets_there() {
    const MAX: u64 = 1 << 20;
    let too_large = || vec![Seen::Error("response_too_large")];
    // Announced past it, however large (2^63, 2^64, 10^30): refused from the head, before any
    // of the body.
    for length in [
        "1048577",
        "9223372036854775808",
        "18446744073709551616",
        &"9".repeat(30),
    ] {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n");
        let fed = same_at_every_cut(|| Box::new(bounded(MAX)), head.as_bytes());
        assert_eq!(fed.seen, too_large(), "{length}");
    }
    // A chunk announcing more, or chunks that go on past it (framing counted: 1-byte chunks
    // with long extensions cannot go on for ever).
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let big_chunk = [&chunked[..], b"100001\r\n"].concat();
    let ext = format!("1;{}\r\nx\r\n", "e".repeat(1000));
    let endless = [&chunked[..], ext.repeat(1100).as_bytes()].concat();
    for wire in [&big_chunk, &endless] {
        let ends: Vec<usize> = (1..wire.len() / 4096 + 1).map(|i| i * 4096).collect();
        assert_eq!(feed(&mut bounded(MAX), wire, &ends, 1).seen, too_large());
    }
    // A body of the bound to the byte, by length or in chunks, in 64 KiB reads, is a reply.
    let mut by_length = format!("HTTP/1.1 200 OK\r\nContent-Length: {MAX}\r\n\r\n").into_bytes();
    by_length.resize(by_length.len() + MAX as usize, b'x');
    let mut in_chunks = chunked.clone();
    // `ffff2\r\n`, the data, `\r\n`, `0\r\n\r\n`: the bound to the byte.
    let data = MAX as usize - 14;
    in_chunks.extend_from_slice(format!("{data:x}\r\n").as_bytes());
    in_chunks.resize(in_chunks.len() + data, b'x');
    in_chunks.extend_from_slice(b"\r\n0\r\n\r\n");
    for wire in [&by_length, &in_chunks] {
        let ends: Vec<usize> = (1..wire.len() / 65536 + 1).map(|i| i * 65536).collect();
        let fed = feed(&mut bounded(MAX), wire, &ends, 1);
        assert!(matches!(fed.seen[..], [Seen::Reply(_)]), "{:?}", fed.seen);
        let fed = feed(&mut bounded(MAX - 1), wire, &ends, 1);
        assert_eq!(fed.seen, too_large());
    }
}
