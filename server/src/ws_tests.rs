//! Tests of the WebSocket responder (server/src/ws.rs): one row per RFC 6455 clause a client can
//! break or keep, each fed to an upgraded connection whole and then a byte per read (as a
//! trickling client sends it), with the frames the client gets back, the refusal, and the
//! counter it lands in. server/tests/strict.rs sends the same frames to the real binary and to
//! python-websockets.

use super::*;
use crate::outcome::{CloseCode, HttpError};
use crate::stats::Registry;

fn unlimited() -> Allowance {
    Allowance::UNLIMITED
}

/// A client frame: masked, as every client frame must be.
fn frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    ws::encode(fin, opcode, Some([1, 2, 3, 4]), payload, &mut v);
    v
}

fn close_frame(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    frame(true, Opcode::Close, &p)
}

/// A frame header with the reserved or opcode bits of `b0` as given, and a 1-byte payload.
fn raw(b0: u8) -> Vec<u8> {
    vec![b0, 0x81, 1, 2, 3, 4, b'x' ^ 1]
}

struct Row {
    name: String,
    input: Vec<u8>,
    max_frame: usize,
    /// Frames the client gets back, in order (a refusal's close frame last).
    replies: Vec<(Opcode, Vec<u8>)>,
    /// Why the server refused the input, if it did.
    refused: Option<WsRefusal>,
}

fn row(
    name: &str,
    input: Vec<u8>,
    replies: Vec<(Opcode, Vec<u8>)>,
    refused: Option<WsRefusal>,
) -> Row {
    Row {
        name: name.to_string(),
        input,
        max_frame: 1 << 16,
        replies,
        refused,
    }
}

/// A frame the client gets back.
fn back(opcode: Opcode, payload: &[u8]) -> (Opcode, Vec<u8>) {
    (opcode, payload.to_vec())
}

fn concat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

/// The close frame a refusal answers with.
fn closing(code: u16) -> (Opcode, Vec<u8>) {
    back(Opcode::Close, &code.to_be_bytes())
}

fn rows() -> Vec<Row> {
    use Opcode::{Binary, Close, Continuation, Ping, Pong, Text};
    let euro = "\u{20ac}".as_bytes(); // E2 82 AC
    let mut rows = vec![
        row(
            "§5.4: fragments are echoed as fragments, a ping between them answered",
            concat(&[
                frame(false, Text, b"ab"),
                frame(true, Ping, b"p"),
                frame(true, Continuation, b"c"),
                frame(true, Binary, b"\xff"),
            ]),
            vec![
                back(Text, b"ab"),
                back(Pong, b"p"),
                back(Continuation, b"c"),
                back(Binary, b"\xff"),
            ],
            None,
        ),
        row(
            "§8.1: a code point split between two fragments is UTF-8",
            concat(&[
                frame(false, Text, &[b'o', b'k', euro[0], euro[1]]),
                frame(true, Continuation, &[euro[2], b'!']),
            ]),
            vec![
                back(Text, &[b'o', b'k', euro[0], euro[1]]),
                back(Continuation, &[euro[2], b'!']),
            ],
            None,
        ),
        row(
            "§8.1: a text message that is not UTF-8: 1007",
            frame(true, Text, b"\xff\xfe"),
            vec![closing(1007)],
            Some(WsRefusal::Utf8),
        ),
        row(
            "§8.1: an invalid prefix fails at its own fragment, before the message ends: 1007",
            concat(&[
                frame(false, Text, b"fine"),
                frame(false, Continuation, b"ok\xe2\x28"),
            ]),
            vec![back(Text, b"fine"), closing(1007)],
            Some(WsRefusal::Utf8),
        ),
        row(
            "§8.1: a text message that ends inside a code point: 1007",
            concat(&[
                frame(false, Text, &[b'a', euro[0]]),
                frame(true, Continuation, &[euro[1]]),
            ]),
            vec![back(Text, &[b'a', euro[0]]), closing(1007)],
            Some(WsRefusal::Utf8),
        ),
        row(
            "§5.6: binary messages are not UTF-8 checked",
            frame(true, Binary, b"\xff\xfe"),
            vec![back(Binary, b"\xff\xfe")],
            None,
        ),
        row(
            "§5.4: a continuation with no message to continue: 1002",
            frame(true, Continuation, b"x"),
            vec![closing(1002)],
            Some(WsRefusal::StrayContinuation),
        ),
        row(
            "§5.4: a new message before the fragmented one ended: 1002",
            concat(&[frame(false, Text, b"a"), frame(true, Binary, b"b")]),
            vec![back(Text, b"a"), closing(1002)],
            Some(WsRefusal::UnfinishedMessage),
        ),
        row(
            "§5.5: a fragmented control frame: 1002",
            frame(false, Ping, b"x"),
            vec![closing(1002)],
            Some(WsRefusal::Frame(WsError::BadControlFrame)),
        ),
        row(
            "§5.5: a control frame over 125 bytes: 1002",
            frame(true, Ping, &[b'x'; 126]),
            vec![closing(1002)],
            Some(WsRefusal::Frame(WsError::BadControlFrame)),
        ),
        row(
            "§5.1: an unmasked client frame: 1002",
            {
                let mut v = Vec::new();
                ws::encode(true, Binary, None, b"x", &mut v);
                v
            },
            vec![closing(1002)],
            Some(WsRefusal::Unmasked),
        ),
        row(
            "§5.5.1: a close with a 1-byte payload: 1002",
            frame(true, Close, &[0x03]),
            vec![closing(1002)],
            Some(WsRefusal::ClosePayload),
        ),
        row(
            "§5.5.1: a close reason that is not UTF-8: 1007, as python-websockets answers",
            close_frame(1000, b"\xff"),
            vec![closing(1007)],
            Some(WsRefusal::Utf8),
        ),
        row(
            "§5.5.1: a close without a code gets one without a code",
            frame(true, Close, b""),
            vec![back(Close, b"")],
            None,
        ),
    ];
    for b0 in [0xC2, 0xA2, 0x92] {
        rows.push(row(
            &format!("§5.2: reserved bits {:#x}: 1002", b0 & 0x70),
            raw(b0),
            vec![closing(1002)],
            Some(WsRefusal::Frame(WsError::ReservedBits)),
        ));
    }
    for op in [0x3, 0x7, 0xB, 0xF] {
        rows.push(row(
            &format!("§5.2: reserved opcode {op:#x}: 1002"),
            raw(0x80 | op),
            vec![closing(1002)],
            Some(WsRefusal::Frame(WsError::UnknownOpcode(op))),
        ));
    }
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, u16::MAX] {
        rows.push(row(
            &format!("§7.4: close code {code} may not be sent: 1002"),
            close_frame(code, b""),
            vec![closing(1002)],
            Some(WsRefusal::CloseCode(code)),
        ));
    }
    for code in [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999] {
        rows.push(row(
            &format!("§7.4: close code {code} is answered with itself"),
            close_frame(code, "bye \u{20ac}".as_bytes()),
            vec![closing(code)],
            None,
        ));
    }
    // --max-frame bounds the whole frame, as it does a nines frame: 200 bytes is a 192-byte
    // payload behind a 2 + 2 + 4-byte header.
    let at_bound = Row {
        max_frame: 200,
        ..row(
            "--max-frame: a frame of exactly the bound is echoed",
            frame(true, Binary, &[7; 192]),
            vec![back(Binary, &[7; 192])],
            None,
        )
    };
    let over = Row {
        max_frame: 200,
        ..row(
            "--max-frame: one byte over, header included: 1009",
            frame(true, Binary, &[7; 193]),
            vec![closing(1009)],
            Some(WsRefusal::TooLarge),
        )
    };
    let far_over = Row {
        max_frame: 200,
        ..row(
            "--max-frame: a payload alone over it is refused on its header: 1009",
            frame(true, Binary, &[7; 300])[..8].to_vec(),
            vec![closing(1009)],
            Some(WsRefusal::TooLarge),
        )
    };
    rows.extend([at_bound, over, far_over]);
    rows
}

/// Feeds `input` to an upgraded connection `step` bytes per read, as the connection does
/// (each call sees what is buffered and not yet consumed); what the client got back, and the
/// refusal if there was one.
fn feed(input: &[u8], max_frame: usize, step: usize) -> (Vec<u8>, Option<RequestError>) {
    let mut state = WsState::Open(Message::Between);
    let (mut out, mut consumed) = (Vec::new(), 0);
    for end in (step..input.len() + step).step_by(step) {
        let end = end.min(input.len());
        match process(
            &mut state,
            &input[consumed..end],
            &mut out,
            max_frame,
            &mut unlimited(),
        ) {
            Ok(p) => {
                consumed += p.consumed;
                if p.close {
                    break;
                }
            }
            Err((_, e)) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// The frames in a server's output.
fn frames_of(mut out: &[u8]) -> Vec<(Opcode, Vec<u8>)> {
    let mut seen = Vec::new();
    while let Ok(Some(h)) = ws::decode(out, usize::MAX) {
        assert!(h.mask.is_none(), "server frames are not masked");
        seen.push((h.opcode, out[h.header_len..h.frame_len()].to_vec()));
        out = &out[h.frame_len()..];
    }
    assert!(out.is_empty(), "a frame cut short");
    seen
}

/// The counters a refusal lands in, by name, once it is counted.
fn counted(e: &RequestError) -> Vec<(&'static str, u64)> {
    let mut registry = Registry::default();
    registry.register().count_decode_error(e);
    let pairs = registry.snapshot().pairs();
    pairs.into_iter().filter(|&(_, v)| v > 0).collect()
}

#[test]
fn every_rfc_clause_gets_its_reply_and_close_code() {
    for row in rows() {
        for step in [row.input.len().max(1), 1] {
            let (out, err) = feed(&row.input, row.max_frame, step);
            let what = format!("{} (read {step} bytes at a time)", row.name);
            assert_eq!(frames_of(&out), row.replies, "{what}");
            assert_eq!(err, row.refused.map(RequestError::Ws), "{what}");
            if let Some(e) = err {
                let kind = match row.refused.map(WsRefusal::close_code) {
                    Some(CloseCode::ProtocolError) => "errors_ws_protocol",
                    Some(CloseCode::InvalidData) => "errors_ws_invalid_utf8",
                    _ => "errors_ws_too_large",
                };
                assert_eq!(
                    counted(&e),
                    [("errors_bad_ws", 1), (kind, 1)],
                    "{what}: counted by its kind and in the total"
                );
            }
        }
    }
}

#[test]
fn upgrade_then_echo_ping_and_close() {
    let mut state = WsState::default();
    let mut input = upgrade_request("dGhlIHNhbXBsZSBub25jZQ==");
    input.extend(frame(true, Opcode::Text, b"hello"));
    input.extend(frame(true, Opcode::Close, &[0x03, 0xE8]));
    let mut out = Vec::new();
    let p = process(&mut state, &input, &mut out, 1 << 20, &mut unlimited()).unwrap();
    assert_eq!((p.consumed, p.requests, p.close), (input.len(), 1, true));
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
    let frames = &out[out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    assert_eq!(
        frames_of(frames),
        [
            (Opcode::Text, b"hello".to_vec()),
            (Opcode::Close, vec![0x03, 0xE8])
        ]
    );
}

#[test]
fn a_bad_upgrade_is_refused_with_400_and_counted_as_websocket() {
    let mut state = WsState::default();
    let plain = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut out = Vec::new();
    let (_, e) = process(&mut state, plain, &mut out, 1024, &mut unlimited()).unwrap_err();
    assert_eq!(e, RequestError::Http(HttpError::BadUpgrade));
    assert!(out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    assert_eq!(
        counted(&e),
        [("errors_bad_ws", 1), ("errors_ws_bad_upgrade", 1)]
    );
    // A version it does not speak: the one it does is named (RFC 6455 §4.2.2).
    let v12 = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 12\r\n\r\n";
    let mut out = Vec::new();
    let (_, e) = process(
        &mut WsState::default(),
        v12,
        &mut out,
        1024,
        &mut unlimited(),
    )
    .unwrap_err();
    assert_eq!(e, RequestError::Http(HttpError::BadUpgrade));
    let reply = String::from_utf8(out).unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 400 Bad Request\r\n")
            && reply.contains("\r\nSec-WebSocket-Version: 13\r\n"),
        "{reply}"
    );
}
