//! Fuzzing nines-server's parsers: nines frames, the handler for each protocol, and its HTTP
//! and WebSocket responders, whole and cut into reads.

use std::time::Instant;

use nines_protocol::{decode, encode, payload, stats, Op, HEADER_LEN};
use nines_server::handler::{Allowance, Handler, Session};
use nines_server::ServerConfig;

use super::cut_at;

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
