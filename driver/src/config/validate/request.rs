//! The bounds of what each request carries: payload and body sizes, work, a Redis command,
//! the largest reply read.

use nines_common::units::{thousands, ByteCount};
use nines_common::usage::{check_range, UsageError};

use super::{MAX_BODY_BYTES, MAX_PAYLOAD_BYTES, MAX_WORK_US, MIN_RESPONSE_BYTES};
use crate::config::{split_command, Body, NinesOp, Payload, RequestSpec};

/// The bounds of what each request carries.
pub(super) fn check_request(spec: &RequestSpec, e: &mut Vec<UsageError>) {
    let payload = |e: &mut Vec<UsageError>, p: &Payload, min: usize| {
        for bytes in [p.min(), p.max()] {
            if !(min..=MAX_PAYLOAD_BYTES).contains(&bytes) {
                e.push(UsageError::range(
                    "--payload",
                    ByteCount(bytes),
                    min,
                    thousands(MAX_PAYLOAD_BYTES as u64),
                    "bytes: one nines frame of at most 1 MiB, less its 40-byte header",
                ));
                return;
            }
        }
    };
    match spec {
        RequestSpec::Nines(NinesOp::Echo { payload_bytes }) => payload(e, payload_bytes, 0),
        RequestSpec::Nines(NinesOp::Source { reply_bytes }) => payload(e, reply_bytes, 0),
        RequestSpec::Nines(NinesOp::Work { work_us }) => {
            check_range(e, "--work-us", *work_us, (0, MAX_WORK_US), "60 s");
        }
        RequestSpec::Nines(NinesOp::Stats) => {}
        RequestSpec::Http(h) => {
            let (flag, len) = match &h.body {
                Body::None => ("--body", 0),
                Body::Bytes(b) => ("--body", b.len()),
                Body::Sized(p) => ("--payload", p.max()),
            };
            if len > MAX_BODY_BYTES {
                e.push(UsageError::new(
                    flag,
                    format!(
                        "is over {} MiB: each connection keeps the request it sends (an upload past that is many requests, or another tool)",
                        MAX_BODY_BYTES >> 20
                    ),
                ));
            }
        }
        RequestSpec::Echo { payload_bytes } => payload(e, payload_bytes, 1),
        RequestSpec::Ws(w) => payload(e, &w.payload_bytes, 0),
        RequestSpec::Redis(r) => {
            if let Err(m) = split_command(&r.command) {
                e.push(UsageError::new("--command", m));
            }
            if r.keyspace == 0 {
                e.push(UsageError::at_least("--keyspace", 0, 1, ""));
            }
            payload(e, &r.data_bytes, 0);
        }
    }
    if let Some(max) = spec.max_response_bytes() {
        if max < MIN_RESPONSE_BYTES {
            e.push(UsageError::at_least(
                "--max-response",
                ByteCount(max as usize),
                ByteCount(MIN_RESPONSE_BYTES as usize),
                "bytes: the most of a reply read in at once",
            ));
        }
    }
}
