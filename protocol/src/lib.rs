//! The nines wire format, shared by the server and the driver.
//!
//! A nines frame is a fixed 40-byte little-endian header followed by a payload. The header
//! carries what a latency measurement needs end to end: a request id so pipelined replies can be
//! matched, the client's *intended* send time so the client can measure from the schedule rather
//! than from when it got around to sending, and the server's residence time so a user can tell
//! time spent inside the server from time spent in the network and the kernel.
//!
//! This crate knows bytes and nothing about sockets or threads, so the server, the driver, tests
//! and fuzzers all use the very same code. The decoder is incremental and borrows payloads from
//! the caller's buffer; the encoder appends into a caller's reusable `Vec<u8>`. Nothing on the
//! per-request path allocates.
//!
//! The format is documented for other implementers in `docs/protocol.md`.
#![deny(missing_docs, missing_debug_implementations)]

mod frame;
pub mod payload;
pub mod stats;
pub mod ws;

pub use frame::{
    decode, encode, encode_header, encode_with, patch_residence, DecodeError, Flags, Frame, Header,
    Op, DEFAULT_MAX_FRAME_BYTES, HEADER_LEN, MAGIC, VERSION,
};
