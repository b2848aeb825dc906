//! Fuzzing the driver's codecs: each protocol's replies as the driver decodes them, whole and
//! in pieces, against what reading them all at once gives.

use crate::config::{HttpRequest, NinesOp, RedisRequest, RequestSpec, WsMessage, WsRequest};
use crate::target::{Codec, Decoded, HttpCodec, RedisCodec, Response, Sent, WsCodec};

use super::cut_at;

/// Every driver codec's response parser, on bytes a misbehaving server might send: replies (and
/// parts of replies) are parsed one after another, each consuming something and never past the
/// input.
pub fn codecs(data: &[u8]) {
    let Some((&sel, buf)) = data.split_first() else {
        return;
    };
    let size = usize::from(sel) + 1;
    for spec in every_request(size) {
        let what = spec.describe();
        let mut codec = spec.codec();
        // Handshake replies (WebSocket) are parsed from the same bytes.
        let mut opening = Vec::new();
        if codec.start(&mut opening) {
            if let Ok(Some(n)) = codec.finish_start(buf) {
                assert!(n <= buf.len(), "{what}: handshake consumed past the input");
            }
        }
        decode_all(&mut *codec, buf, Sent::of(u64::from(sel), size), &what);
    }
}

/// One request of every kind (each nines op, and every other protocol), `bytes` large.
fn every_request(bytes: usize) -> Vec<RequestSpec> {
    vec![
        RequestSpec::Nines(NinesOp::Echo {
            payload_bytes: bytes.into(),
        }),
        RequestSpec::Nines(NinesOp::Work { work_us: 1 }),
        RequestSpec::Nines(NinesOp::Source {
            reply_bytes: bytes.into(),
        }),
        RequestSpec::Nines(NinesOp::Stats),
        RequestSpec::Echo {
            payload_bytes: bytes.into(),
        },
        RequestSpec::Http(HttpRequest::default()),
        RequestSpec::Ws(WsRequest {
            payload_bytes: bytes.into(),
            ..WsRequest::default()
        }),
        RequestSpec::Redis(RedisRequest {
            data_bytes: bytes.into(),
            ..RedisRequest::default()
        }),
    ]
}

/// Decodes `buf` reply after reply until the codec needs more or refuses: each step consumes
/// something and nothing past the input. Returns the bytes left.
fn decode_all<'a>(codec: &mut dyn Codec, buf: &'a [u8], first: Sent, what: &str) -> &'a [u8] {
    let mut rest = buf;
    let mut oldest = first;
    let mut out = Vec::new();
    while let Ok(Some(d)) = codec.decode(rest, Some(oldest), &mut out) {
        let n = match d {
            Decoded::Reply(r) => {
                oldest.id += 1;
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
    let spec = RequestSpec::Http(spec);
    in_pieces_agrees(
        || Box::new(HttpCodec::new(&[&spec])),
        buf,
        usize::from(sel),
        0,
    );
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
    let spec = RequestSpec::Redis(spec);
    in_pieces_agrees(
        || Box::new(RedisCodec::new(&[&spec])),
        buf,
        usize::from(sel),
        0,
    );
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
    let size = usize::from(sel) + 1;
    let spec = WsRequest {
        payload_bytes: size.into(),
        message: if sel & 1 == 0 {
            WsMessage::Binary
        } else {
            WsMessage::Text
        },
        ..WsRequest::default()
    };
    let spec = RequestSpec::Ws(spec);
    in_pieces_agrees(
        || Box::new(WsCodec::new(&[&spec])),
        buf,
        usize::from(sel),
        size,
    );
}

/// Parsing `buf` whole and parsing it cut at `cut` (the first piece parsed, then the rest
/// appended, as a second read would) find the same sequence of replies and write the same
/// answers (the pong owed at the end); a reply taken in parts ([`Decoded::Partial`]) counts as one, with all its
/// bytes.
/// Each request in flight asked for `size` bytes.
fn in_pieces_agrees(make: impl Fn() -> Box<dyn Codec>, buf: &[u8], cut: usize, size: usize) {
    let whole = replies(&mut *make(), buf, buf.len(), size);
    let cut = cut % (buf.len() + 1);
    let pieces = replies(&mut *make(), buf, cut, size);
    assert_eq!(whole, pieces, "cut at {cut}");
}

/// What a codec finds in `buf` when the first `first` bytes arrive, then the rest, and what it
/// writes in answer. Whatever the bytes, it never asks for more with its bound buffered.
fn replies(
    codec: &mut dyn Codec,
    buf: &[u8],
    first: usize,
    size: usize,
) -> (Vec<Result<Decoded, &'static str>>, Vec<u8>) {
    let bound = codec.max_buffered();
    let mut found = Vec::new();
    let (mut pos, mut partial) = (0, 0);
    let mut out = Vec::new();
    let mut id = 1;
    for avail in [first, buf.len()] {
        loop {
            match codec.decode(&buf[pos..avail], Some(Sent::of(id, size)), &mut out) {
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
