//! Entry points for arbitrary bytes: what `fuzz/` feeds to libFuzzer (`scripts/fuzz.sh`) and
//! what the proptests in `tests/fuzz_entry.rs` run on every `cargo test`.
//!
//! Each takes any bytes, hands them to one parser, and asserts what must hold whatever the
//! bytes are: no panic, nothing consumed past the input, incremental parsing that agrees with
//! parsing all at once, round trips where there is one. A new parser (HTTP, WebSocket, RESP)
//! gets a function in the module for its side and a target in `fuzz/fuzz_targets/`; a new
//! [`crate::config::Protocol`] is fuzzed by [`codecs()`] without any change here.
//!
//! By what they take apart: `server` (nines frames, HTTP requests and WebSocket frames as
//! nines-server reads them), `codecs` (each protocol's replies as the driver reads them) and
//! `inputs` (node messages, result files, flag values).

mod codecs;
mod inputs;
mod server;

pub use codecs::{codecs, http_response, resp_reply, ws_frame};
pub use inputs::{node_line, node_lines, result_file, units};
pub use server::{frame, server_handler, server_http, server_ws};

/// Where to cut `len` bytes in two, from the selector byte.
fn cut_at(sel: u8, len: usize) -> usize {
    usize::from(sel) * len / 255
}
