//! The connection's answers to a server's pings, driven on a scripted stream: however many
//! pings arrive while the server reads nothing, the connection holds one pong, not a queue (a
//! ping flood once queued 1.25 GB of pongs in 22 s).

use std::net::SocketAddr;

use mio::Token;
use nines_protocol::ws::{self, Opcode};

use super::script::{In, Out, Script};
use super::tests::{read_all, script, speaker};
use super::*;
use crate::config::{RequestSpec, WsRequest};

/// A WebSocket connection past its handshake on a scripted stream.
fn ws_open() -> Conn<Script> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 9));
    let mut conn = Conn::new(
        addr,
        None,
        Token(0),
        speaker(RequestSpec::Ws(WsRequest::default())),
        0,
    );
    assert!(matches!(
        conn.established(Script::default()),
        Connecting::Pending
    ));
    let upgrade = String::from_utf8(std::mem::take(&mut script(&mut conn).written)).unwrap();
    let key = upgrade
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a key");
    let accept = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        nines_protocol::ws::accept_key(key.as_bytes())
    );
    script(&mut conn)
        .reads
        .push_back(In::Bytes(accept.into_bytes()));
    assert!(matches!(conn.poll_handshake(), Connecting::Established(_)));
    conn
}

#[test]
fn pings_from_a_server_that_does_not_read_hold_one_pong_not_a_queue() {
    let mut conn = ws_open();
    let ping = |i: u32| {
        let mut f = Vec::new();
        ws::encode(true, Opcode::Ping, None, &i.to_be_bytes(), &mut f);
        f
    };
    // The server takes nothing; 100 reads of 100 pings each.
    script(&mut conn).writes = std::iter::repeat_n(Out::WouldBlock, 1_000).collect();
    for r in 0..100 {
        let burst: Vec<u8> = (0..100).flat_map(|i| ping(r * 100 + i)).collect();
        script(&mut conn).reads.push_back(In::Bytes(burst));
        let (replies, end) = read_all(&mut conn);
        assert_eq!((replies, end), (vec![], Ok(())));
        assert!(
            conn.wbuf.len() <= 6 + 4 + 4,
            "read {r}: {} bytes queued",
            conn.wbuf.len()
        );
    }
    // Once it reads: the pong queued while the output was empty (the first burst's latest),
    // then the latest ping's.
    script(&mut conn).writes.clear();
    assert_eq!(conn.flush(), Ok(()));
    let written = std::mem::take(&mut script(&mut conn).written);
    let mut pongs = Vec::new();
    let mut at = 0;
    while at < written.len() {
        let h = ws::decode(&written[at..], 125).unwrap().unwrap();
        let mut p = written[at + h.header_len..at + h.frame_len()].to_vec();
        ws::apply_mask(h.mask.unwrap(), 0, &mut p);
        assert_eq!(h.opcode, Opcode::Pong);
        pongs.push(u32::from_be_bytes(p.try_into().unwrap()));
        at += h.frame_len();
    }
    assert_eq!(pongs, [99, 9_999]);
}
