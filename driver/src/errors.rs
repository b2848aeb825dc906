//! What can go wrong with a request or connection during a run, counted by kind.

use std::collections::BTreeMap;

/// Error counts of one thread or a whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    /// Connections that could not be established.
    pub connect: u64,
    /// Connections the server closed (or reset) while the run needed them.
    pub connection_closed: u64,
    /// Read/write failures other than a close.
    pub io: u64,
    /// Replies that could not be parsed at all (the connection is dropped).
    pub decode: u64,
    /// Replies to a request id the connection never sent or already had answered.
    pub unknown_id: u64,
    /// Replies whose content was wrong for their request.
    pub bad_payload: u64,
    /// Requests still unanswered when the drain timeout after the run expired.
    pub timeout: u64,
}

impl ErrorCounts {
    /// All errors.
    pub fn total(&self) -> u64 {
        self.connect
            + self.connection_closed
            + self.io
            + self.decode
            + self.unknown_id
            + self.bad_payload
            + self.timeout
    }

    /// Adds another set of counts.
    pub fn add(&mut self, o: &ErrorCounts) {
        self.connect += o.connect;
        self.connection_closed += o.connection_closed;
        self.io += o.io;
        self.decode += o.decode;
        self.unknown_id += o.unknown_id;
        self.bad_payload += o.bad_payload;
        self.timeout += o.timeout;
    }

    /// Non-zero counts by name, for reports.
    pub fn by_kind(&self) -> BTreeMap<&'static str, u64> {
        [
            ("connect", self.connect),
            ("connection_closed", self.connection_closed),
            ("io", self.io),
            ("decode", self.decode),
            ("unknown_id", self.unknown_id),
            ("bad_payload", self.bad_payload),
            ("timeout", self.timeout),
        ]
        .into_iter()
        .filter(|(_, v)| *v > 0)
        .collect()
    }
}
