//! The request flags that only some requests read, each with the requests that read it: what
//! lets `--payload` on a GET, or `--method` beside a mix, be refused with what it is for.

use nines_driver::config::{NinesOp, RequestSpec};

/// The request flags that only some requests read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RequestFlag {
    Payload,
    PayloadFile,
    Op,
    WorkUs,
    Method,
    Header,
    Body,
    Accept,
    Message,
    Command,
    Keyspace,
    MaxResponse,
}

impl RequestFlag {
    pub(super) const ALL: [RequestFlag; 12] = [
        RequestFlag::Payload,
        RequestFlag::PayloadFile,
        RequestFlag::Op,
        RequestFlag::WorkUs,
        RequestFlag::Method,
        RequestFlag::Header,
        RequestFlag::Body,
        RequestFlag::Accept,
        RequestFlag::Message,
        RequestFlag::Command,
        RequestFlag::Keyspace,
        RequestFlag::MaxResponse,
    ];

    /// As it is written on the command line.
    pub(super) fn name(self) -> &'static str {
        match self {
            RequestFlag::Payload => "--payload",
            RequestFlag::PayloadFile => "--payload-file",
            RequestFlag::Op => "--op",
            RequestFlag::WorkUs => "--work-us",
            RequestFlag::Method => "--method",
            RequestFlag::Header => "--header",
            RequestFlag::Body => "--body",
            RequestFlag::Accept => "--accept",
            RequestFlag::Message => "--message",
            RequestFlag::Command => "--command",
            RequestFlag::Keyspace => "--keyspace",
            RequestFlag::MaxResponse => "--max-response",
        }
    }

    /// Whether each line of a mix says it for itself (so the flag has no place beside one).
    pub(super) fn said_by_lines(self) -> bool {
        use RequestFlag as F;
        matches!(self, F::Op | F::Method | F::Body | F::Message | F::Command)
    }

    /// Whether a request of this kind reads it.
    pub(super) fn read_by(self, spec: &RequestSpec) -> bool {
        use RequestFlag as F;
        match self {
            F::MaxResponse => return spec.max_response_bytes().is_some(),
            F::Payload | F::PayloadFile => return spec.payload().is_some(),
            _ => {}
        }
        match spec {
            RequestSpec::Nines(op) => match self {
                F::Op => true,
                F::WorkUs => matches!(op, NinesOp::Work { .. }),
                _ => false,
            },
            RequestSpec::Echo { .. } => false,
            RequestSpec::Http(_) => matches!(self, F::Method | F::Header | F::Body | F::Accept),
            RequestSpec::Ws(_) => matches!(self, F::Header | F::Message),
            // A Redis command reads --keyspace only where its template says so.
            RequestSpec::Redis(r) => match self {
                F::Command => true,
                F::Keyspace => r.command.contains("__rand__") || r.command.contains("__rand_int__"),
                _ => false,
            },
        }
    }

    /// The requests that read it, in words.
    pub(super) fn for_what(self) -> &'static str {
        match self {
            RequestFlag::Payload | RequestFlag::PayloadFile => {
                "nines echo and source, echo, ws, an http POST, PUT or PATCH without --body, and a redis --command with __data__"
            }
            RequestFlag::Op => "nines",
            RequestFlag::WorkUs => "nines --op work",
            RequestFlag::Method | RequestFlag::Body | RequestFlag::Accept => "http://",
            RequestFlag::Header => "http:// and ws://",
            RequestFlag::Message => "ws://",
            RequestFlag::Command => "redis://",
            RequestFlag::Keyspace => "a redis --command with __rand__",
            RequestFlag::MaxResponse => "http://, ws:// and redis://",
        }
    }
}
