//! A short fuzzing pass on every `cargo test`: the entry points `scripts/fuzz.sh` runs under
//! libFuzzer (driver/src/fuzzing/), fed random bytes and random mutations of valid input by
//! proptest, and every input saved under fuzz/regressions/ (crashes the fuzzer found, kept as
//! regression tests) replayed.

use std::path::Path;

use nines_driver::fuzzing;
use nines_protocol::{encode, Header, Op};
use proptest::prelude::*;

/// A valid stream of nines requests, for mutations to start from.
fn frames() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((0u8..4, any::<u64>(), 0u32..300, 0usize..200), 0..6).prop_map(|fs| {
        let mut out = Vec::new();
        for (op, id, arg, len) in fs {
            let op = Op::ALL[usize::from(op)];
            let h = Header {
                arg,
                ..Header::request(op, id)
            };
            encode(&h, &vec![7; len], &mut out);
        }
        out
    })
}

/// Bytes that are sometimes valid: a valid stream with a few bytes overwritten and a cut.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        frames(),
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        any::<usize>(),
    )
        .prop_map(|(sel, stream, edits, cut)| {
            let mut v = vec![sel];
            v.extend(stream);
            for (at, b) in edits {
                let i = at % v.len();
                v[i] = b;
            }
            v.truncate(1 + cut % v.len());
            v
        })
}

/// Bytes put together from pieces of HTTP, RESP and WebSocket traffic, so random input reaches
/// past the first line of each parser.
fn protocol_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop::sample::select(vec![
        &b"HTTP/1.1 200 OK\r\n"[..],
        b"GET / HTTP/1.1\r\n",
        b"Host: a\r\n",
        b"Content-Length: 5\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Connection: close\r\n",
        b"\r\n",
        b"5\r\nhello\r\n0\r\n\r\n",
        b"hello",
        b"+OK\r\n",
        b"$3\r\nabc\r\n",
        b"*2\r\n",
        b"-ERR x\r\n",
        b":1\r\n",
        &[0x82, 0x03, b'a', b'b', b'c'],
        &[0x82, 0x83, 1, 2, 3, 4, 0x60, 0x60, 0x60],
        &[0x89, 0x00],
        &[0x88, 0x02, 0x03, 0xE8],
        &[0x7F, 0xFF],
        // Content-Length forms a server must refuse: signed, past 64 bits, and (with the one
        // above) given twice.
        b"Content-Length: +5\r\n",
        b"Content-Length: 99999999999999999999999\r\n",
        // Masked client frames for the server's message state: a text fragment ending inside
        // a code point, the continuation that finishes it, text that is not UTF-8, a close
        // with a code no peer may send.
        &[
            0x01,
            0x84,
            1,
            2,
            3,
            4,
            b'o' ^ 1,
            b'k' ^ 2,
            0xE2 ^ 3,
            0x82 ^ 4,
        ],
        &[0x80, 0x82, 1, 2, 3, 4, 0xAC ^ 1, b'!' ^ 2],
        &[0x81, 0x81, 1, 2, 3, 4, 0xFF ^ 1],
        &[0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xED ^ 2],
    ]);
    (any::<u8>(), prop::collection::vec(piece, 0..12)).prop_map(|(sel, p)| {
        let mut v = vec![sel];
        v.extend(p.concat());
        v
    })
}

/// Node lines put together from the pieces a harness sends.
fn node_lines() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop::sample::select(vec![
        r#"{"src":"c","dest":"n","body":{"#,
        r#""type":"init","#,
        r#""type":"bench_run","#,
        r#""type":"bench_sweep","#,
        r#""msg_id":"#,
        r#""node_id":"#,
        r#""num_requests":"#,
        r#""concurrency_levels":[1,"#,
        "-1",
        "1e400",
        "18446744073709551616",
        r#""\u0000\u001b[2J""#,
        "\u{ff}",
        "}}",
        ",",
        "]",
        "\n",
    ]);
    prop::collection::vec(piece, 0..16).prop_map(|p| p.concat().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn frames_never_panic(data in prop::collection::vec(any::<u8>(), 0..512), m in mutated()) {
        fuzzing::frame(&data);
        fuzzing::frame(&m);
    }

    #[test]
    fn the_server_handler_never_panics(data in prop::collection::vec(any::<u8>(), 0..512), m in mutated()) {
        fuzzing::server_handler(&data);
        fuzzing::server_handler(&m);
    }

    #[test]
    fn codecs_never_panic(data in prop::collection::vec(any::<u8>(), 0..512), m in mutated()) {
        fuzzing::codecs(&data);
        fuzzing::codecs(&m);
    }

    #[test]
    fn http_resp_and_ws_parsers_never_panic(data in prop::collection::vec(any::<u8>(), 0..512), m in protocol_bytes()) {
        for input in [&data, &m] {
            fuzzing::http_response(input);
            fuzzing::resp_reply(input);
            fuzzing::ws_frame(input);
            fuzzing::server_http(input);
            fuzzing::server_ws(input);
        }
    }

    #[test]
    fn node_lines_never_panic(data in prop::collection::vec(any::<u8>(), 0..256), line in node_lines()) {
        fuzzing::node_line(&data);
        fuzzing::node_line(&line);
        fuzzing::node_lines(&data);
        fuzzing::node_lines(&line);
    }

    #[test]
    fn result_files_and_units_never_panic(data in prop::collection::vec(any::<u8>(), 0..256), s in "[0-9a-zµ.+-]{0,12}") {
        fuzzing::result_file(&data);
        fuzzing::units(&data);
        fuzzing::units(s.as_bytes());
    }
}

/// An entry point by its fuzz target's name (fuzz/fuzz_targets/NAME.rs).
fn entry(name: &str) -> fn(&[u8]) {
    match name {
        "frame" => fuzzing::frame,
        "server_handler" => fuzzing::server_handler,
        "codecs" => fuzzing::codecs,
        "node_line" => fuzzing::node_line,
        "node_lines" => fuzzing::node_lines,
        "result_file" => fuzzing::result_file,
        "units" => fuzzing::units,
        "http_response" => fuzzing::http_response,
        "resp_reply" => fuzzing::resp_reply,
        "ws_frame" => fuzzing::ws_frame,
        "server_http" => fuzzing::server_http,
        "server_ws" => fuzzing::server_ws,
        other => panic!("fuzz/regressions/{other}: no such entry point"),
    }
}

/// Runs every file under fuzz/KIND/TARGET/ through TARGET's entry point; how many ran.
fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind);
    let mut replayed = 0;
    for dir in std::fs::read_dir(&root).expect("fuzz/ is in the repository") {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let run = entry(dir.file_name().unwrap().to_str().unwrap());
        for file in std::fs::read_dir(&dir).unwrap() {
            run(&std::fs::read(file.unwrap().path()).unwrap());
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn seeds_and_saved_crashes_still_pass() {
    assert!(
        replay("seeds") >= 12,
        "fuzz/seeds holds a start for each target"
    );
    // Each file under fuzz/regressions is an input that once failed; it must pass now.
    assert!(replay("regressions") >= 1);
}

#[test]
fn every_fuzz_target_has_an_entry_point_and_seeds() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut targets = 0;
    for t in std::fs::read_dir(fuzz.join("fuzz_targets")).unwrap() {
        let name = t.unwrap().path();
        let name = name.file_stem().unwrap().to_str().unwrap().to_string();
        let _ = entry(&name);
        let seeds = fuzz.join("seeds").join(&name);
        assert!(
            std::fs::read_dir(&seeds).is_ok_and(|mut d| d.next().is_some()),
            "{} is missing or empty",
            seeds.display()
        );
        targets += 1;
    }
    assert_eq!(targets, 12);
}
