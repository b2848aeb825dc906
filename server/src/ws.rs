//! `--protocol ws`: the WebSocket echo server of the seed's C10K test, on the same workers and
//! limits as every protocol. The connection opens with an HTTP upgrade (`Sec-WebSocket-Accept`
//! computed from the client's key), then every message frame is unmasked and echoed with the
//! same opcode (fragments as fragments), pings get pongs, and a close is answered and ends the
//! connection. Unmasked, reserved or oversized frames are refused with a close frame (1002,
//! 1009) and the connection is closed.

use nines_protocol::ws::{self, Opcode, WsError};

use crate::http;
use crate::outcome::RequestError;
use crate::turn::{Allowance, Processed};

/// Room one control reply needs at most.
const CONTROL_REPLY_BYTES: usize = ws::MAX_HEADER_LEN + ws::MAX_CONTROL_PAYLOAD;

/// Where a WebSocket connection is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WsState {
    /// Waiting for the upgrade request.
    #[default]
    Handshake,
    /// Upgraded: frames flow.
    Open,
}

/// Handles the upgrade request, then frames, as far as `allow` lets it.
pub(crate) fn process(
    state: &mut WsState,
    input: &[u8],
    out: &mut Vec<u8>,
    max_payload: usize,
    allow: &mut Allowance,
) -> Result<Processed, (Processed, RequestError)> {
    let mut done = Processed::default();
    if *state == WsState::Handshake {
        let mut key = Vec::new();
        match http::parse(input, 0, Some(&mut key)) {
            Ok(None) => return Ok(done),
            Ok(Some(head)) => {
                out.extend_from_slice(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                      Connection: Upgrade\r\nSec-WebSocket-Accept: ",
                );
                out.extend_from_slice(ws::accept_key(&key).as_bytes());
                out.extend_from_slice(b"\r\n\r\n");
                done.consumed = head.len;
                *state = WsState::Open;
            }
            Err(e) => {
                http::refuse(e, out);
                done.close = true;
                return Err((done, RequestError::Http(e)));
            }
        }
    }
    while out.len() < allow.out_limit && !allow.spent() {
        let rest = &input[done.consumed..];
        let head = match ws::decode(rest, max_payload) {
            Ok(Some(h)) if h.mask.is_none() => {
                return Err(refuse(done, out, 1002, RequestError::Unmasked));
            }
            Ok(Some(h)) if rest.len() >= h.frame_len() => h,
            Ok(_) => break,
            Err(e) => {
                let code = if matches!(e, WsError::TooLarge { .. }) {
                    1009
                } else {
                    1002
                };
                return Err(refuse(done, out, code, RequestError::Ws(e)));
            }
        };
        let need = ws::MAX_HEADER_LEN + head.payload_len;
        if allow.budget < need.max(CONTROL_REPLY_BYTES) {
            done.starved = Some(need);
            break;
        }
        let payload = &rest[head.header_len..head.frame_len()];
        let mask = head.mask.unwrap_or([0; 4]);
        let before = out.len();
        match head.opcode {
            Opcode::Pong => {}
            Opcode::Ping => echo(true, Opcode::Pong, mask, payload, out),
            Opcode::Close => {
                echo(
                    true,
                    Opcode::Close,
                    mask,
                    payload.get(..2).unwrap_or(&[]),
                    out,
                );
                done.consumed += head.frame_len();
                done.close = true;
                return Ok(done);
            }
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                echo(head.fin, head.opcode, mask, payload, out);
                done.requests += 1;
                allow.requests -= 1;
            }
        }
        allow.budget = allow.budget.saturating_sub(out.len() - before);
        done.consumed += head.frame_len();
    }
    Ok(done)
}

/// Appends `payload` (masked with `mask`) back, unmasked, as a server frame.
fn echo(fin: bool, opcode: Opcode, mask: [u8; 4], payload: &[u8], out: &mut Vec<u8>) {
    ws::encode_header(fin, opcode, None, payload.len(), out);
    let at = out.len();
    out.extend_from_slice(payload);
    ws::apply_mask(mask, 0, &mut out[at..]);
}

/// Appends a close frame with `code` and ends the connection with error `e`.
fn refuse(
    mut done: Processed,
    out: &mut Vec<u8>,
    code: u16,
    e: RequestError,
) -> (Processed, RequestError) {
    ws::encode(true, Opcode::Close, None, &code.to_be_bytes(), out);
    done.close = true;
    (done, e)
}

/// The upgrade request for tests and fuzzing: a valid one for `key`.
pub fn upgrade_request(key: &str) -> Vec<u8> {
    format!(
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::HttpError;

    fn unlimited() -> Allowance {
        Allowance::UNLIMITED
    }

    #[test]
    fn upgrade_then_echo_ping_and_close() {
        let mut state = WsState::default();
        let mut input = upgrade_request("dGhlIHNhbXBsZSBub25jZQ==");
        ws::encode(true, Opcode::Text, Some([1, 2, 3, 4]), b"hello", &mut input);
        ws::encode(false, Opcode::Binary, Some([5, 6, 7, 8]), b"ab", &mut input);
        ws::encode(
            true,
            Opcode::Continuation,
            Some([5, 6, 7, 8]),
            b"c",
            &mut input,
        );
        ws::encode(true, Opcode::Ping, Some([9, 9, 9, 9]), b"p", &mut input);
        ws::encode(
            true,
            Opcode::Close,
            Some([1, 1, 1, 1]),
            &[0x03, 0xE8],
            &mut input,
        );
        let mut out = Vec::new();
        let p = process(&mut state, &input, &mut out, 1 << 20, &mut unlimited()).unwrap();
        assert_eq!((p.consumed, p.requests, p.close), (input.len(), 3, true));
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
        let mut frames = &out[out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
        let mut seen = Vec::new();
        while let Ok(Some(h)) = ws::decode(frames, 1 << 20) {
            assert!(h.mask.is_none(), "server frames are not masked");
            seen.push((h.opcode, frames[h.header_len..h.frame_len()].to_vec()));
            frames = &frames[h.frame_len()..];
        }
        assert_eq!(
            seen,
            vec![
                (Opcode::Text, b"hello".to_vec()),
                (Opcode::Binary, b"ab".to_vec()),
                (Opcode::Continuation, b"c".to_vec()),
                (Opcode::Pong, b"p".to_vec()),
                (Opcode::Close, vec![0x03, 0xE8]),
            ]
        );
    }

    #[test]
    fn bad_upgrades_and_frames_are_refused() {
        let mut state = WsState::default();
        let plain = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let (_, e) =
            process(&mut state, plain, &mut Vec::new(), 1024, &mut unlimited()).unwrap_err();
        assert_eq!(e, RequestError::Http(HttpError::BadUpgrade));
        let mut state = WsState::Open;
        let mut unmasked = Vec::new();
        ws::encode(true, Opcode::Binary, None, b"x", &mut unmasked);
        let mut out = Vec::new();
        let (p, e) = process(&mut state, &unmasked, &mut out, 1024, &mut unlimited()).unwrap_err();
        assert_eq!((e, p.close), (RequestError::Unmasked, true));
        assert_eq!(out, [0x88, 2, 0x03, 0xEA], "close 1002");
        let mut big = Vec::new();
        ws::encode(true, Opcode::Binary, Some([0; 4]), &[0; 200], &mut big);
        let mut out = Vec::new();
        let (_, e) = process(&mut state, &big, &mut out, 100, &mut unlimited()).unwrap_err();
        assert!(matches!(e, RequestError::Ws(WsError::TooLarge { .. })));
        assert_eq!(out, [0x88, 2, 0x03, 0xF1], "close 1009");
    }
}
