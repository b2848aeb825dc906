//! Entry points for arbitrary bytes: what `fuzz/` feeds to libFuzzer (`scripts/fuzz.sh`) and
//! what the proptests in `tests/fuzz_entry.rs` run on every `cargo test`.
//!
//! Each takes any bytes, hands them to one parser, and asserts what must hold whatever the
//! bytes are: no panic, nothing consumed past the input, incremental parsing that agrees with
//! parsing all at once, round trips where there is one. A new parser (HTTP, WebSocket, RESP)
//! gets a function here and a target in `fuzz/fuzz_targets/`; a new [`crate::config::Protocol`] is fuzzed by
//! [`codecs`] without any change here.

use std::io::BufRead;
use std::time::Instant;

use clap::ValueEnum;
use nines_protocol::{decode, encode, payload, stats, Op, HEADER_LEN};
use nines_server::handler::{Allowance, Handler, Session};
use nines_server::ServerConfig;

use crate::config::{HttpRequest, NinesOp, RedisRequest, RequestSpec, WsMessage, WsRequest};
use crate::node::{Message, Node};
use crate::report::{self, Format, Loaded};
use crate::target::{Codec, Decoded, HttpCodec, RedisCodec, Response, WsCodec};

/// Frames as the server reads them: decoded one after another from a stream, each checked
/// against incremental decoding (every prefix of a whole frame asks for more bytes) and
/// re-encoding; payload checks and Stats parsing on what decodes.
pub fn frame(data: &[u8]) {
    let Some((&sel, mut buf)) = data.split_first() else {
        return;
    };
    let max = HEADER_LEN + usize::from(sel) * 16;
    let _ = stats::parse(data);
    while let Ok(Some((f, n))) = decode(buf, max) {
        assert!(
            (HEADER_LEN..=max.min(buf.len())).contains(&n),
            "consumed {n}"
        );
        assert_eq!(f.payload.len(), f.header.payload_len as usize);
        for cut in (0..n).step_by(1 + n / 64) {
            assert!(
                matches!(decode(&buf[..cut], max), Ok(None)),
                "a prefix of {cut} of a {n}-byte frame must ask for more"
            );
        }
        let mut again = Vec::new();
        encode(&f.header, f.payload, &mut again);
        let (g, m) = decode(&again, max).expect("re-encoded").expect("whole");
        assert_eq!((g.header, g.payload, m), (f.header, f.payload, n));
        let _ = payload::check(f.header.request_id, f.payload);
        if f.header.op == Op::Stats {
            if let Ok(pairs) = stats::parse(f.payload) {
                let _ = stats::Profile::between(&pairs, &pairs);
            }
        }
        buf = &buf[n..];
    }
}

/// The server's request handling (the code a hostile client reaches), on one connection's
/// bytes: whatever arrives, every reply produced is a whole, well-formed frame (or echo bytes),
/// nothing is consumed past the input, and limits are honoured.
pub fn server_handler(data: &[u8]) {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let protocol = if sel & 1 == 0 {
        nines_server::Protocol::Nines
    } else {
        nines_server::Protocol::Echo
    };
    let (out, at) = handle(protocol, sel, input, input.len());
    if protocol == nines_server::Protocol::Nines {
        let mut replies = &out[..];
        while let Ok(Some((f, n))) = decode(replies, usize::MAX) {
            assert!(f.header.flags.contains(nines_protocol::Flags::RESPONSE));
            replies = &replies[n..];
        }
        assert!(
            replies.is_empty(),
            "{} bytes of reply are not a frame",
            replies.len()
        );
    } else {
        assert_eq!(out, input[..at], "echo returns what it consumed");
    }
}

/// The server's HTTP responder on one connection's bytes: what it writes is a sequence of whole
/// HTTP responses, each with a Content-Length the bytes after its head honour; a refusal (400,
/// 413, 431) is the last response and closes; and the statuses are the same whether the bytes
/// arrive whole or in two reads (a head or a Content-Length cut in two parses alike).
pub fn server_http(data: &[u8]) {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let (out, _) = handle(nines_server::Protocol::Http, sel, input, input.len());
    let statuses = http_statuses(&out);
    if let Some(pos) = statuses.iter().position(|&s| s != 200) {
        assert!(
            matches!(statuses[pos], 400 | 413 | 431),
            "refused with {}",
            statuses[pos]
        );
        assert_eq!(
            pos,
            statuses.len() - 1,
            "nothing is answered after a refusal"
        );
        assert!(
            out.ends_with(b"Connection: close\r\n\r\n"),
            "a refusal closes"
        );
    }
    let cut = cut_at(sel, input.len());
    let (pieces, _) = handle(nines_server::Protocol::Http, sel, input, cut);
    assert_eq!(http_statuses(&pieces), statuses, "cut at {cut}");
}

/// The statuses of the whole HTTP responses in `out`, checking each is whole.
fn http_statuses(out: &[u8]) -> Vec<u16> {
    let mut statuses = Vec::new();
    let mut rest = out;
    while !rest.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(n)) = resp.parse(rest) else {
            panic!("the server wrote something that is not an HTTP response");
        };
        statuses.push(resp.code.expect("a status"));
        let len: usize = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
            .expect("every response has a Content-Length");
        // HEAD replies announce the body they do not carry.
        let head_reply = rest.len() == n || rest[n..].starts_with(b"HTTP/1.1 ");
        let body = if head_reply { 0 } else { len };
        assert!(rest.len() >= n + body, "a response cut short");
        rest = &rest[n + body..];
    }
    statuses
}

/// The server's WebSocket echo on one connection's bytes (an upgrade is put in front when the
/// selector says so, to reach the frames): after the 101, what it writes is unmasked frames that
/// keep RFC 6455's rules themselves — fragments in order, every whole text message UTF-8, a
/// close last and with a code a peer may send — and the same bytes whether the input arrives
/// whole or in two reads (fragmentation and UTF-8 state carried across calls).
pub fn server_ws(data: &[u8]) {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let mut bytes = Vec::new();
    if sel & 1 == 0 {
        bytes.extend(nines_server::ws::upgrade_request(
            "dGhlIHNhbXBsZSBub25jZQ==",
        ));
    }
    bytes.extend_from_slice(input);
    let (out, _) = handle(nines_server::Protocol::Ws, sel, &bytes, bytes.len());
    let cut = cut_at(sel, bytes.len());
    let (pieces, _) = handle(nines_server::Protocol::Ws, sel, &bytes, cut);
    assert_eq!(pieces, out, "cut at {cut}");
    let mut rest = &out[..];
    if rest.starts_with(b"HTTP/1.1 101") {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("whole head");
        rest = &rest[end + 4..];
    } else if rest.starts_with(b"HTTP/1.1 ") {
        return; // the upgrade was refused, with a close
    }
    // The text message being echoed, fragment by fragment (None: between messages or binary).
    let (mut open, mut text) = (None, Vec::new());
    while !rest.is_empty() {
        let h = nines_protocol::ws::decode(rest, usize::MAX)
            .expect("the server writes valid frames")
            .expect("whole frames");
        assert!(h.mask.is_none(), "server frames are unmasked");
        assert!(rest.len() >= h.frame_len(), "a frame cut short");
        let payload = &rest[h.header_len..h.frame_len()];
        rest = &rest[h.frame_len()..];
        use nines_protocol::ws::Opcode;
        match h.opcode {
            Opcode::Close => {
                assert!(rest.is_empty(), "nothing follows a close");
                if let [hi, lo, ..] = *payload {
                    let code = u16::from_be_bytes([hi, lo]);
                    assert!(
                        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999),
                        "close code {code}"
                    );
                }
            }
            Opcode::Ping | Opcode::Pong => {}
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                let first = h.opcode != Opcode::Continuation;
                assert_eq!(first, open.is_none(), "fragments echoed out of order");
                let kind = open.unwrap_or(h.opcode);
                if kind == Opcode::Text {
                    text.extend_from_slice(payload);
                }
                open = (!h.fin).then_some(kind);
                if h.fin {
                    assert!(
                        std::str::from_utf8(&text).is_ok(),
                        "a whole text message echoed that is not UTF-8"
                    );
                    text.clear();
                }
            }
        }
    }
}

/// Runs one connection's bytes through the server's handler for `protocol`, the turn's limits
/// taken from `sel`, until it stops making progress; returns what it wrote and consumed. The
/// first `cut` bytes arrive first and the rest later, as two reads would bring them.
fn handle(protocol: nines_server::Protocol, sel: u8, input: &[u8], cut: usize) -> (Vec<u8>, usize) {
    let cfg = ServerConfig {
        protocol,
        max_frame_bytes: 64 * 1024,
        // Work requests spin for real: keep each one short.
        work_cap_us: 20,
        ..ServerConfig::default()
    };
    let mut registry = nines_server::stats::Registry::default();
    let counters = registry.register();
    let handler = Handler::new(&cfg, registry);
    let mut allow = Allowance {
        out_limit: 1024 << (sel >> 5),
        budget: usize::MAX,
        cap: usize::MAX,
        requests: u32::from(sel >> 1 & 15) + 1,
        work_us: 100,
    };
    let (mut out, mut offsets, mut at) = (Vec::new(), Vec::new(), 0);
    let mut session = Session::default();
    for arrived in [cut.min(input.len()), input.len()] {
        // Each call makes progress or stops; bounded by the input's length anyway.
        for _ in 0..=arrived {
            allow.requests = allow.requests.max(1);
            allow.work_us = allow.work_us.max(1);
            allow.out_limit = allow.out_limit.max(out.len() + 1024);
            let res = handler.process(
                &input[at..arrived],
                &mut out,
                Instant::now(),
                &counters,
                &mut offsets,
                &mut allow,
                &mut session,
            );
            let (done, failed) = match res {
                Ok(p) => (p, false),
                Err((p, _)) => (p, true),
            };
            assert!(done.consumed <= arrived - at);
            at += done.consumed;
            if let Some(mut rest) = done.source {
                while !handler.continue_source(&mut rest, &mut out, &allow) {
                    allow.out_limit += 4096;
                }
            }
            if failed || done.close {
                return (out, at);
            }
            if done.consumed == 0 && done.source.is_none() {
                break;
            }
        }
    }
    (out, at)
}

/// Where to cut `len` bytes in two, from the selector byte.
fn cut_at(sel: u8, len: usize) -> usize {
    usize::from(sel) * len / 255
}

/// Every driver codec's response parser, on bytes a misbehaving server might send: replies (and
/// parts of replies) are parsed one after another, each consuming something and never past the
/// input.
pub fn codecs(data: &[u8]) {
    let Some((&sel, buf)) = data.split_first() else {
        return;
    };
    for spec in every_request(usize::from(sel) + 1) {
        let what = spec.describe();
        let mut codec = spec.codec();
        // Handshake replies (WebSocket) are parsed from the same bytes.
        let mut opening = Vec::new();
        if codec.start(&mut opening) {
            if let Ok(Some(n)) = codec.finish_start(buf) {
                assert!(n <= buf.len(), "{what}: handshake consumed past the input");
            }
        }
        decode_all(&mut *codec, buf, u64::from(sel), &what);
    }
}

/// One request of every kind (each nines op, and every other protocol), `bytes` large.
fn every_request(bytes: usize) -> Vec<RequestSpec> {
    vec![
        RequestSpec::Nines(NinesOp::Echo {
            payload_bytes: bytes,
        }),
        RequestSpec::Nines(NinesOp::Work { work_us: 1 }),
        RequestSpec::Nines(NinesOp::Source { reply_bytes: bytes }),
        RequestSpec::Nines(NinesOp::Stats),
        RequestSpec::Echo {
            payload_bytes: bytes,
        },
        RequestSpec::Http(HttpRequest::default()),
        RequestSpec::Ws(WsRequest {
            payload_bytes: bytes,
            ..WsRequest::default()
        }),
        RequestSpec::Redis(RedisRequest {
            data_bytes: bytes,
            ..RedisRequest::default()
        }),
    ]
}

/// Decodes `buf` reply after reply until the codec needs more or refuses: each step consumes
/// something and nothing past the input. Returns the bytes left.
fn decode_all<'a>(codec: &mut dyn Codec, buf: &'a [u8], first_id: u64, what: &str) -> &'a [u8] {
    let mut rest = buf;
    let mut oldest = first_id;
    let mut out = Vec::new();
    while let Ok(Some(d)) = codec.decode(rest, Some(oldest), &mut out) {
        let n = match d {
            Decoded::Reply(r) => {
                oldest += 1;
                r.consumed
            }
            Decoded::Skip(n) | Decoded::Prompt(n) | Decoded::Partial(n) | Decoded::Closing(n) => n,
        };
        assert!(
            (1..=rest.len()).contains(&n),
            "{what} consumed {n} of {}",
            rest.len()
        );
        rest = &rest[n..];
    }
    let _ = codec.decode(rest, None, &mut out);
    rest
}

/// HTTP responses as the driver parses them: whatever the bytes, fed whole or cut in two at
/// any point (as reads cut them), the parser finds the same replies.
pub fn http_response(data: &[u8]) {
    let Some((&sel, buf)) = data.split_first() else {
        return;
    };
    let spec = HttpRequest {
        method: if sel & 1 == 0 { "GET" } else { "HEAD" }.to_string(),
        accept: vec![404],
        ..HttpRequest::default()
    };
    in_pieces_agrees(|| Box::new(HttpCodec::new(&spec)), buf, usize::from(sel));
}

/// RESP replies as the driver parses them, whole and in two pieces.
pub fn resp_reply(data: &[u8]) {
    let Some((&sel, buf)) = data.split_first() else {
        return;
    };
    let commands = [
        "GET k",
        "SET k:__rand__ v",
        "PING",
        "LRANGE l 0 9",
        "OBJECT",
    ];
    let spec = RedisRequest {
        command: commands[usize::from(sel) % commands.len()].to_string(),
        ..RedisRequest::default()
    };
    in_pieces_agrees(|| Box::new(RedisCodec::new(&spec)), buf, usize::from(sel));
}

/// WebSocket frames: the shared frame decoder (a frame it accepts re-encodes to the same
/// bytes), the server's piecewise UTF-8 check of text, and the driver's echo client, whole and
/// in two pieces.
pub fn ws_frame(data: &[u8]) {
    let Some((&sel, buf)) = data.split_first() else {
        return;
    };
    if let Ok(Some(h)) = nines_protocol::ws::decode(buf, 1 << 20) {
        assert!(h.header_len <= nines_protocol::ws::MAX_HEADER_LEN);
        if buf.len() >= h.frame_len() {
            let mut again = Vec::new();
            let payload = &buf[h.header_len..h.frame_len()];
            nines_protocol::ws::encode_header(h.fin, h.opcode, h.mask, payload.len(), &mut again);
            // Lengths may be encoded longer than needed on the wire; the decoded header is
            // what must agree.
            let re = nines_protocol::ws::decode(&again, 1 << 20)
                .unwrap()
                .unwrap();
            assert_eq!(
                (re.fin, re.opcode, re.mask, re.payload_len),
                (h.fin, h.opcode, h.mask, h.payload_len)
            );
        }
    }
    // Text checked a fragment at a time, as the server checks it: cut in three anywhere, the
    // verdict is the whole's.
    let (a, b) = (
        cut_at(sel, buf.len()),
        cut_at(sel.rotate_left(4), buf.len()),
    );
    let (a, b) = (a.min(b), a.max(b));
    let mut tail = nines_server::utf8::Utf8Tail::default();
    let in_pieces = [&buf[..a], &buf[a..b], &buf[b..]]
        .iter()
        .all(|p| tail.feed(p).is_ok())
        && tail.is_complete();
    assert_eq!(
        in_pieces,
        std::str::from_utf8(buf).is_ok(),
        "UTF-8 cut at {a} and {b}"
    );
    let spec = WsRequest {
        payload_bytes: usize::from(sel) + 1,
        message: if sel & 1 == 0 {
            WsMessage::Binary
        } else {
            WsMessage::Text
        },
        ..WsRequest::default()
    };
    in_pieces_agrees(|| Box::new(WsCodec::new(&spec)), buf, usize::from(sel));
}

/// Parsing `buf` whole and parsing it cut at `cut` (the first piece parsed, then the rest
/// appended, as a second read would) find the same sequence of replies and write the same
/// answers (the pong owed at the end); a reply taken in parts ([`Decoded::Partial`]) counts as one, with all its
/// bytes.
fn in_pieces_agrees(make: impl Fn() -> Box<dyn Codec>, buf: &[u8], cut: usize) {
    let whole = replies(&mut *make(), buf, buf.len());
    let cut = cut % (buf.len() + 1);
    let pieces = replies(&mut *make(), buf, cut);
    assert_eq!(whole, pieces, "cut at {cut}");
}

/// What a codec finds in `buf` when the first `first` bytes arrive, then the rest, and what it
/// writes in answer. Whatever the bytes, it never asks for more with its bound buffered.
fn replies(
    codec: &mut dyn Codec,
    buf: &[u8],
    first: usize,
) -> (Vec<Result<Decoded, &'static str>>, Vec<u8>) {
    let bound = codec.max_buffered();
    let mut found = Vec::new();
    let (mut pos, mut partial) = (0, 0);
    let mut out = Vec::new();
    let mut id = 1;
    for avail in [first, buf.len()] {
        loop {
            match codec.decode(&buf[pos..avail], Some(id), &mut out) {
                Ok(Some(d)) => {
                    let n = match d {
                        Decoded::Reply(r) => r.consumed,
                        Decoded::Skip(n)
                        | Decoded::Prompt(n)
                        | Decoded::Partial(n)
                        | Decoded::Closing(n) => n,
                    };
                    assert!((1..=avail - pos).contains(&n));
                    pos += n;
                    match d {
                        Decoded::Partial(n) => partial += n,
                        Decoded::Reply(r) => {
                            id += 1;
                            let consumed = std::mem::take(&mut partial) + r.consumed;
                            found.push(Ok(Decoded::Reply(Response { consumed, ..r })));
                        }
                        Decoded::Skip(_) | Decoded::Prompt(_) => found.push(Ok(d)),
                        Decoded::Closing(_) => {
                            found.push(Ok(d));
                            return (found, out);
                        }
                    }
                }
                Ok(None) => {
                    assert!(
                        avail - pos < bound,
                        "asked for more with {} of {bound} held",
                        avail - pos
                    );
                    break;
                }
                Err(e) => {
                    found.push(Err(e.kind));
                    return (found, out);
                }
            }
        }
    }
    codec.take_answer(&mut out);
    (found, out)
}

/// One `nines node` line: parsed without running anything; lines that need no load (init,
/// errors, lines without a sender) are answered in full and rendered as the node writes them.
pub fn node_line(data: &[u8]) {
    let runs_load =
        matches!(Message::parse(data), Ok(Message { request: Ok(ref r), .. }) if r.runs_load());
    if !runs_load {
        let mut log = Vec::new();
        if let Some(reply) = Node::new().handle(data, &mut log) {
            let text = crate::node::python_json(&reply);
            assert!(!text.contains('\n'), "a reply is one line");
        }
        assert!(
            !log.iter().any(|&b| b < b' ' && b != b'\n'),
            "the log holds no control characters"
        );
    }
}

/// The node's line reader over any input with a small cap: every byte is accounted for as part
/// of a kept line, a skipped long line, or a newline.
pub fn node_lines(data: &[u8]) {
    let cap = 16;
    let mut input = std::io::Cursor::new(data);
    let mut buf = Vec::new();
    let mut seen = 0;
    loop {
        match crate::node::read_line(&mut input, &mut buf, cap).expect("reading memory") {
            crate::node::Line::Eof => break,
            crate::node::Line::Complete => {
                assert!(buf.len() <= cap && !buf.contains(&b'\n'));
                seen += buf.len();
            }
            crate::node::Line::TooLong(n) => {
                assert!(n > cap);
                seen += n;
            }
        }
        if data.get(seen) == Some(&b'\n') {
            seen += 1;
        }
    }
    assert_eq!(seen, data.len(), "every byte is part of a line");
    assert!(input.fill_buf().expect("memory").is_empty());
}

/// A result file (`nines report`, `nines merge`): JSON report or interval log. What loads
/// renders in every format, merges (or is refused as one run twice), and survives a JSON
/// round trip.
pub fn result_file(data: &[u8]) {
    match report::parse(data, "fuzz") {
        Ok(Loaded::Report(r)) => {
            for &f in Format::value_variants() {
                let _ = report::render(&r, f);
            }
            let json = report::render(&r, Format::Json);
            let again = report::parse(json.as_bytes(), "again").expect("its own JSON loads");
            let Loaded::Report(again) = again else {
                panic!("a report reads back as a report");
            };
            assert_eq!(again.requests, r.requests);
            // With itself it is one run twice (refused); the same a second later is another.
            let _ = report::merge(vec![("a".into(), (*r).clone()), ("b".into(), (*r).clone())]);
            let mut later = *r;
            later.measure_start_unix_s += 1.0;
            if let report::Origin::Merged { parts } = &mut later.origin {
                for p in parts {
                    p.measure_start_unix_s += 1.0;
                }
            }
            let _ = report::merge(vec![("a".into(), (*again).clone()), ("b".into(), later)]);
        }
        Ok(Loaded::Sweep(s)) => {
            for &f in Format::value_variants() {
                let _ = report::render::sweep::render(&s, f);
            }
            let json = report::render::sweep::render(&s, Format::Json).expect("json renders");
            let again = report::parse(json.as_bytes(), "again").expect("its own JSON loads");
            assert!(matches!(again, Loaded::Sweep(a) if a.steps.len() == s.steps.len()));
        }
        Err(_) => {}
    }
}

/// The flag parsers for sizes, durations, rates and start times.
pub fn units(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = nines_common::units::parse_bytes(s);
    let _ = nines_common::units::parse_duration(s);
    if let Ok(r) = nines_common::units::parse_rate(s) {
        assert!(r.is_finite() && r >= 0.0, "{s} -> {r}");
    }
    let _ = crate::config::parse_start_at(s);
    let _ = Op::from_name(s);
}
