//! The WebSocket codec's tables: the handshake, echoes whole, fragmented and cut at every
//! byte, 16 MiB echoes in 64 KiB reads, pings (one pong owed however many) and closes, and
//! messages past the bound.

use super::*;
use crate::target::feed::{feed, same_at_every_cut, Seen};

fn codec(message: WsMessage, payload_bytes: usize) -> WsCodec {
    WsCodec::new(&[&RequestSpec::Ws(WsRequest {
        message,
        payload_bytes: payload_bytes.into(),
        ..WsRequest::default()
    })])
}

/// What an echo server sends back for the request frame `req`.
fn echo(req: &[u8], fragments: usize) -> Vec<u8> {
    let h = ws::decode(req, 1 << 30).unwrap().unwrap();
    let mut p = req[h.header_len..].to_vec();
    ws::apply_mask(h.mask.unwrap(), 0, &mut p);
    let mut out = Vec::new();
    let n = p.len().div_ceil(fragments).max(1);
    let pieces: Vec<&[u8]> = p.chunks(n).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let op = if i == 0 {
            h.opcode
        } else {
            Opcode::Continuation
        };
        ws::encode(i + 1 == pieces.len(), op, None, piece, &mut out);
    }
    out
}

#[test]
fn handshake_checks_the_accept_key() {
    let mut c = codec(WsMessage::Binary, 8);
    let mut req = Vec::new();
    assert!(c.start(&mut req));
    let accept = ws::accept_key(c.key.as_bytes());
    let good = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    assert_eq!(c.finish_start(&good.as_bytes()[..20]), Ok(None));
    assert_eq!(c.finish_start(good.as_bytes()), Ok(Some(good.len())));
    let wrong = good.replace(&accept, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    assert_eq!(
        c.finish_start(wrong.as_bytes()).unwrap_err().kind,
        "ws_handshake_accept"
    );
    let refused = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        c.finish_start(refused.as_bytes()).unwrap_err().kind,
        "ws_handshake_status"
    );
}

#[test]
fn echoes_are_checked_whole_or_in_fragments() {
    for message in [WsMessage::Binary, WsMessage::Text] {
        for fragments in [1, 3] {
            let mut c = codec(message, 300);
            let mut req = Vec::new();
            c.encode_request(&Sent::of(9, 300), &mut req);
            let back = echo(&req, fragments);
            let mut at = 0;
            let mut out = Vec::new();
            let reply = loop {
                match c
                    .decode(&back[at..], Some(Sent::of(9, 300)), &mut out)
                    .unwrap()
                    .unwrap()
                {
                    Decoded::Skip(n) | Decoded::Prompt(n) | Decoded::Partial(n) => at += n,
                    Decoded::Reply(r) => break r,
                    Decoded::Closing(_) => panic!("closing"),
                }
            };
            assert_eq!(reply.verdict, Verdict::Ok, "{message} in {fragments}");
            assert_eq!(at + reply.consumed, back.len());
            // The same echo, attributed to another request, is wrong.
            let r = c
                .decode(&back, Some(Sent::of(10, 300)), &mut out)
                .unwrap()
                .unwrap();
            if fragments == 1 {
                assert_eq!(
                    r,
                    Decoded::Reply(Response::new(back.len(), 10, Verdict::WrongContent))
                );
            }
        }
    }
}

/// The payload of the one pong in `out`, unmasked.
fn pong_payload(out: &[u8]) -> Vec<u8> {
    let pong = ws::decode(out, 125).unwrap().unwrap();
    assert_eq!((pong.opcode, pong.frame_len()), (Opcode::Pong, out.len()));
    let mut p = out[pong.header_len..].to_vec();
    ws::apply_mask(pong.mask.expect("client frames are masked"), 0, &mut p);
    p
}

#[test]
fn pings_get_pongs_and_close_is_answered() {
    let mut c = codec(WsMessage::Binary, 4);
    let mut ping = Vec::new();
    ws::encode(true, Opcode::Ping, None, b"hi", &mut ping);
    let mut out = Vec::new();
    assert_eq!(
        c.decode(&ping, None, &mut out),
        Ok(Some(Decoded::Prompt(4)))
    );
    assert!(out.is_empty(), "owed, not queued");
    c.take_answer(&mut out);
    assert_eq!(pong_payload(&out), b"hi");
    out.clear();
    c.take_answer(&mut out);
    assert!(out.is_empty(), "one pong per ping at most");
    let mut close = Vec::new();
    ws::encode(true, Opcode::Close, None, &[0x03, 0xE8], &mut close);
    assert_eq!(
        c.decode(&close, Some(Sent::of(1, 4)), &mut out),
        Ok(Some(Decoded::Closing(4)))
    );
    let mut masked = Vec::new();
    ws::encode(
        true,
        Opcode::Binary,
        Some([1, 1, 1, 1]),
        b"abcd",
        &mut masked,
    );
    assert_eq!(
        c.decode(&masked, Some(Sent::of(1, 4)), &mut out)
            .unwrap_err()
            .kind,
        "ws_masked"
    );
    assert_eq!(
        c.decode(&[0xC2, 0], Some(Sent::of(1, 4)), &mut out)
            .unwrap_err()
            .kind,
        "ws_reserved_bits"
    );
}

/// The echo of request `req`'s message, in `fragments` frames, with a ping after the first.
fn echo_with_ping(c: &mut WsCodec, req: Sent, fragments: usize) -> (Vec<u8>, usize) {
    let mut bytes = Vec::new();
    c.encode_request(&req, &mut bytes);
    let req = bytes;
    let back = echo(&req, fragments);
    let first = ws::decode(&back, 1 << 30).unwrap().unwrap().frame_len();
    let mut ping = Vec::new();
    ws::encode(true, Opcode::Ping, None, b"are you there", &mut ping);
    let wire = [&back[..first], &ping, &back[first..]].concat();
    (wire, ping.len())
}

#[test]
fn messages_cut_at_every_byte_give_what_they_give_whole() {
    for message in [WsMessage::Binary, WsMessage::Text] {
        for fragments in [1, 3] {
            let make = || codec(message, 300);
            let (wire, ping) = echo_with_ping(&mut make(), Sent::of(5, 300), fragments);
            let fed = same_at_every_cut(|| Box::new(make()), &wire);
            let pong = ws::decode(&fed.out, 125).unwrap().unwrap();
            assert_eq!((pong.opcode, pong.payload_len), (Opcode::Pong, 13));
            let seen: Vec<Seen> = fed
                .seen
                .into_iter()
                .filter(|s| *s != Seen::Prompt(ping))
                .collect();
            assert_eq!(
                seen,
                [Seen::Reply(Response::new(
                    wire.len() - ping,
                    1,
                    Verdict::WrongContent
                ))],
                "the echo of request 5 is not request 1's: {message} in {fragments}"
            );
            let right = feed(&mut make(), &wire, &[], Sent::of(5, 300));
            assert!(right.seen.contains(&Seen::Reply(Response::new(
                wire.len() - ping,
                5,
                Verdict::Ok
            ))));
        }
    }
}

#[test]
fn a_16_mib_echo_in_64_kib_reads_is_checked_holding_no_more_than_a_header() {
    for fragments in [1, 16] {
        let mut c = codec(WsMessage::Binary, 16 << 20);
        let mut req = Vec::new();
        c.encode_request(&Sent::of(3, 16 << 20), &mut req);
        let mut back = echo(&req, fragments);
        let ends: Vec<usize> = (1..back.len() / 65536 + 1).map(|i| i * 65536 - 3).collect();
        let fed = feed(&mut c, &back, &ends, Sent::of(3, 16 << 20));
        assert_eq!(
            fed.seen,
            [Seen::Reply(Response::new(back.len(), 3, Verdict::Ok))]
        );
        assert!(fed.max_pending < ws::MAX_HEADER_LEN, "{}", fed.max_pending);
        // One byte wrong, deep in the message, is caught where it falls.
        let at = back.len() - 100_000;
        back[at] ^= 1;
        let fed = feed(&mut c, &back, &ends, Sent::of(3, 16 << 20));
        assert_eq!(
            fed.seen,
            [Seen::Reply(Response::new(
                back.len(),
                3,
                Verdict::WrongContent
            ))]
        );
    }
}

#[test]
fn text_messages_start_with_the_id_in_hex() {
    let mut out = [0u8; 20];
    fill_at(WsMessage::Text, 0xDEAD_BEEF_0042, 0, &mut out);
    assert_eq!(&out, b"0000deadbeef0042qrst");
    let mut piece = [0u8; 6];
    fill_at(WsMessage::Text, 0xDEAD_BEEF_0042, 14, &mut piece);
    assert_eq!(&piece, &out[14..]);
}

#[test]
fn a_ping_flood_owes_one_pong_for_the_latest_ping() {
    let mut c = codec(WsMessage::Binary, 4);
    let mut wire = Vec::new();
    for i in 0..10_000u32 {
        ws::encode(true, Opcode::Ping, None, &i.to_be_bytes(), &mut wire);
    }
    let fed = feed(&mut c, &wire, &[4096, 65536], 1);
    assert_eq!(fed.seen.len(), 10_000);
    assert!(fed.seen.iter().all(|s| *s == Seen::Prompt(6)));
    assert_eq!(pong_payload(&fed.out), 9_999u32.to_be_bytes());
}

/// A codec taking messages of at most `max` bytes.
fn bounded(max: u64) -> WsCodec {
    WsCodec::new(&[&RequestSpec::Ws(WsRequest {
        max_response_bytes: max,
        ..WsRequest::default()
    })])
}

#[test]
fn a_message_past_the_bound_is_too_large_from_its_header_or_fragment() {
    let too_large = || vec![Seen::Error("response_too_large")];
    // A header announcing 2^62 bytes: refused before any payload.
    let mut huge = vec![0x82, 127];
    huge.extend_from_slice(&(1u64 << 62).to_be_bytes());
    assert_eq!(
        same_at_every_cut(|| Box::new(bounded(1 << 30)), &huge).seen,
        too_large()
    );
    // Fragments that go on: refused at the first that would pass the bound.
    let piece = [b'x'; 1000];
    let mut wire = Vec::new();
    ws::encode(false, Opcode::Binary, None, &piece, &mut wire);
    for _ in 0..100 {
        ws::encode(false, Opcode::Continuation, None, &piece, &mut wire);
    }
    let fed = feed(&mut bounded(64 << 10), &wire, &[3000, 9000], 1);
    assert_eq!(fed.seen, too_large());
    // Empty continuations cost their headers: they cannot go on for ever either.
    let mut empty = Vec::new();
    ws::encode(false, Opcode::Binary, None, b"", &mut empty);
    for _ in 0..40_000 {
        ws::encode(false, Opcode::Continuation, None, b"", &mut empty);
    }
    assert_eq!(
        feed(&mut bounded(64 << 10), &empty, &[], 1).seen,
        too_large()
    );
    // A message that fits, to the byte, is a reply.
    let mut fits = Vec::new();
    ws::encode(false, Opcode::Binary, None, &piece, &mut fits);
    ws::encode(true, Opcode::Continuation, None, &piece[..4], &mut fits);
    let fed = feed(&mut bounded(fits.len() as u64), &fits, &[10], 1);
    assert!(matches!(fed.seen[..], [Seen::Reply(_)]), "{:?}", fed.seen);
    let fed = feed(&mut bounded(fits.len() as u64 - 1), &fits, &[10], 1);
    assert_eq!(fed.seen, too_large());
}
