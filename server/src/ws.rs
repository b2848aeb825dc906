//! `--protocol ws`: the WebSocket echo server of the seed's C10K test, on the same workers and
//! limits as every protocol. The connection opens with an HTTP upgrade (`Sec-WebSocket-Accept`
//! computed from the client's key), then every message frame is unmasked and echoed with the
//! same opcode (fragments as fragments, as they come: a message is never buffered whole), pings
//! get pongs, and a close is answered with its code and ends the connection.
//!
//! A client that breaks RFC 6455 gets a close frame whose code says how, as python-websockets
//! and other conforming peers do, and the connection is closed: 1002 for a frame without a mask,
//! with reserved bits or a reserved opcode, a fragmented or long control frame, a continuation
//! with nothing to continue, a new message before the last one ended, or a close whose code may
//! not be sent; 1007 for a text message (or a close reason) that is not UTF-8, checked a fragment
//! at a time (`utf8`); 1009 for a frame longer than `--max-frame`.

use nines_protocol::ws::{self, FrameHead, Opcode, WsError};

use crate::http;
use crate::outcome::{RequestError, WsRefusal};
use crate::turn::{Allowance, Processed};
use crate::utf8::Utf8Tail;

/// Room one control reply needs at most.
const CONTROL_REPLY_BYTES: usize = ws::MAX_HEADER_LEN + ws::MAX_CONTROL_PAYLOAD;

/// Where a WebSocket connection is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum WsState {
    /// Waiting for the upgrade request.
    #[default]
    Handshake,
    /// Upgraded: frames flow.
    Open(Message),
}

/// The data message a connection is in the middle of: what its next continuation continues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Message {
    /// None: the next data frame starts a message.
    #[default]
    Between,
    /// A binary message sent in fragments.
    Binary,
    /// A text message sent in fragments, and the code point its last fragment cut in two.
    Text(Utf8Tail),
}

/// Handles the upgrade request, then frames, as far as `allow` lets it.
pub(crate) fn process(
    state: &mut WsState,
    input: &[u8],
    out: &mut Vec<u8>,
    max_frame: usize,
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
                *state = WsState::Open(Message::Between);
            }
            Err(e) => {
                http::refuse(e, out);
                done.close = true;
                return Err((done, RequestError::Http(e)));
            }
        }
    }
    let WsState::Open(message) = state else {
        return Ok(done);
    };
    while out.len() < allow.out_limit && !allow.spent() {
        let rest = &input[done.consumed..];
        let head = match frame_head(rest, max_frame) {
            Ok(Some(h)) if rest.len() >= h.frame_len() => h,
            Ok(_) => break,
            Err(r) => return Err(refuse(done, out, r)),
        };
        let need = ws::MAX_HEADER_LEN + head.payload_len;
        if allow.budget < need.max(CONTROL_REPLY_BYTES) {
            done.starved = Some(need);
            break;
        }
        let payload = &rest[head.header_len..head.frame_len()];
        let mask = head.mask.unwrap_or_default(); // frame_head refuses frames without one
        let before = out.len();
        let answered = match head.opcode {
            Opcode::Pong => Ok(()),
            Opcode::Ping => {
                echo(true, Opcode::Pong, mask, payload, out);
                Ok(())
            }
            Opcode::Close => close(mask, payload, out).map(|()| done.close = true),
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                data(message, &head, mask, payload, out).map(|()| {
                    done.requests += 1;
                    allow.requests -= 1;
                })
            }
        };
        if let Err(r) = answered {
            // Nothing of a refused frame goes back, only the close that refuses it.
            out.truncate(before);
            return Err(refuse(done, out, r));
        }
        allow.budget = allow.budget.saturating_sub(out.len() - before);
        done.consumed += head.frame_len();
        if done.close {
            break;
        }
    }
    Ok(done)
}

/// The header of the frame at the front of `rest` (`None` until it is whole), held to what a
/// server takes from a client: masked (§5.1), and with its header no longer than `max_frame`,
/// the bound that sizes the connection's read buffer.
fn frame_head(rest: &[u8], max_frame: usize) -> Result<Option<FrameHead>, WsRefusal> {
    let head = match ws::decode(rest, max_frame) {
        Ok(Some(h)) => h,
        Ok(None) => return Ok(None),
        Err(WsError::TooLarge { .. }) => return Err(WsRefusal::TooLarge),
        Err(e) => return Err(WsRefusal::Frame(e)),
    };
    if head.mask.is_none() {
        Err(WsRefusal::Unmasked)
    } else if head.frame_len() > max_frame {
        Err(WsRefusal::TooLarge)
    } else {
        Ok(Some(head))
    }
}

/// Echoes a text, binary or continuation frame, held to the rules of messages (§5.4, §8.1): a
/// continuation continues a fragmented message, a new message waits until the last one ended,
/// and text is UTF-8 (checked fragment by fragment, so a bad one fails at once).
fn data(
    message: &mut Message,
    head: &FrameHead,
    mask: [u8; 4],
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), WsRefusal> {
    let mut this = match (head.opcode, *message) {
        (Opcode::Continuation, Message::Between) => return Err(WsRefusal::StrayContinuation),
        (Opcode::Continuation, going_on) => going_on,
        (Opcode::Text, Message::Between) => Message::Text(Utf8Tail::default()),
        (_, Message::Between) => Message::Binary,
        _ => return Err(WsRefusal::UnfinishedMessage),
    };
    let at = echo(head.fin, head.opcode, mask, payload, out);
    if let Message::Text(tail) = &mut this {
        // Checked where it lies unmasked, in the reply: no copy of its own.
        tail.feed(&out[at..]).map_err(|_| WsRefusal::Utf8)?;
        if head.fin && !tail.is_complete() {
            return Err(WsRefusal::Utf8);
        }
    }
    *message = if head.fin { Message::Between } else { this };
    Ok(())
}

/// Answers a close frame with its status code (with none if it had none), unless the code may
/// not be sent or the reason is not UTF-8 (§5.5.1, §7.4), checked in that order as
/// python-websockets does.
fn close(mask: [u8; 4], payload: &[u8], out: &mut Vec<u8>) -> Result<(), WsRefusal> {
    // A control payload is at most 125 bytes (the decoder refuses longer ones).
    let mut bytes = [0u8; ws::MAX_CONTROL_PAYLOAD];
    let n = payload.len().min(bytes.len());
    let bytes = &mut bytes[..n];
    bytes.copy_from_slice(&payload[..n]);
    ws::apply_mask(mask, 0, bytes);
    let code = match *bytes {
        [] => &[][..],
        [_] => return Err(WsRefusal::ClosePayload),
        [hi, lo, ref reason @ ..] => {
            if std::str::from_utf8(reason).is_err() {
                return Err(WsRefusal::Utf8);
            }
            let code = u16::from_be_bytes([hi, lo]);
            if !may_be_sent(code) {
                return Err(WsRefusal::CloseCode(code));
            }
            &bytes[..2]
        }
    };
    ws::encode(true, Opcode::Close, None, code, out);
    Ok(())
}

/// Whether a peer may send close code `code` (§7.4): the codes RFC 6455 and the IANA registry
/// define for the wire (1000-1003, 1007-1014) and those for libraries and applications
/// (3000-4999). 1004 is reserved, 1005, 1006 and 1015 only name local conditions, 1016-2999
/// are unassigned.
fn may_be_sent(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Appends `payload` (masked with `mask`) back, unmasked, as a server frame; returns where the
/// payload starts in `out`.
fn echo(fin: bool, opcode: Opcode, mask: [u8; 4], payload: &[u8], out: &mut Vec<u8>) -> usize {
    ws::encode_header(fin, opcode, None, payload.len(), out);
    let at = out.len();
    out.extend_from_slice(payload);
    ws::apply_mask(mask, 0, &mut out[at..]);
    at
}

/// Appends a close frame with the code for `r` and ends the connection.
fn refuse(mut done: Processed, out: &mut Vec<u8>, r: WsRefusal) -> (Processed, RequestError) {
    let code = r.close_code() as u16;
    ws::encode(true, Opcode::Close, None, &code.to_be_bytes(), out);
    done.close = true;
    (done, RequestError::Ws(r))
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
#[path = "ws_tests.rs"]
mod tests;
