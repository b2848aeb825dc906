//! What can go wrong during a run, counted by kind. Each kind is declared once, below; its name
//! is what reports, `--max-errors` messages and the progress line show.
//!
//! Every request the driver sends ends as exactly one of: a recorded reply, or one
//! request-level error (`bad_payload`, `rejected`, `aborted`, `timeout`, `drain_timeout`). A request that
//! fell due but was never sent is `unsent`. Connection-level kinds (`connect`, `tls_certificate`,
//! `tls_handshake`,
//! `connection_closed`, `io`, `decode`, `response_too_large`, `too_many_elements`) count
//! connections, and `unknown_id` counts replies that answer no request.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! error_kinds {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )*) => {
        /// A kind of error.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ErrorKind {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorKind {
            /// Every kind, in report order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$variant,)*];

            /// The kind's name in reports.
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorKind::$variant => $name,)*
                }
            }
        }
    };
}

error_kinds! {
    /// A connection could not be established (per connection).
    Connect => "connect",
    /// A TLS handshake failed because the server's certificate did not verify: untrusted
    /// issuer, expired, for another name (per connection).
    TlsCertificate => "tls_certificate",
    /// A TLS handshake failed otherwise: no TLS at the other end, an alert, a stall past
    /// `--connect-timeout`, a close mid-handshake (per connection).
    TlsHandshake => "tls_handshake",
    /// The server closed or reset a connection the run still needed (per connection).
    ConnectionClosed => "connection_closed",
    /// A read or write failed for another reason (per connection).
    Io => "io",
    /// Bytes that are no reply at all; the connection is dropped (per connection).
    Decode => "decode",
    /// A response past `--max-response`: an HTTP body announced or streamed beyond it, a
    /// WebSocket message whose frames go on past it, a RESP reply that does; the connection is
    /// closed when the bound is passed (or announced), not held until the timeout (per
    /// connection).
    ResponseTooLarge => "response_too_large",
    /// A RESP array announcing more elements than any client takes (hiredis' 2^32 - 1): closed
    /// at once (per connection).
    TooManyElements => "too_many_elements",
    /// A reply to no request in flight on its connection (per reply).
    UnknownId => "unknown_id",
    /// A reply whose content is wrong for its request (per request).
    BadPayload => "bad_payload",
    /// A reply saying the request failed: an HTTP status outside 2xx and `--accept`, a Redis
    /// error reply (per request; the report's reply kinds say which).
    Rejected => "rejected",
    /// A request in flight on a connection that was lost (per request).
    Aborted => "aborted",
    /// A request unanswered for `--timeout` after it was sent (per request).
    Timeout => "timeout",
    /// A request still unanswered when `--drain-timeout` expired after the run (per request).
    DrainTimeout => "drain_timeout",
    /// A request that fell due (open loop) but was never sent: no connection had a free slot
    /// within `--timeout` of its due time, or before the run ended (per request).
    Unsent => "unsent",
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Error counts of one thread or a whole run. In reports, a map from kind name to count that
/// lists only the kinds that occurred.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts([u64; ErrorKind::ALL.len()]);

impl ErrorCounts {
    /// Counts `n` errors of `kind`.
    #[inline]
    pub fn add(&mut self, kind: ErrorKind, n: u64) {
        self.0[kind as usize] += n;
    }

    /// The count of one kind.
    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind as usize]
    }

    /// All errors.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds another set of counts.
    pub fn add_all(&mut self, other: &ErrorCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }

    /// The kinds that occurred in words: `timeout 3, unsent 1,200`.
    pub fn describe(&self) -> String {
        let kinds: Vec<String> = self
            .nonzero()
            .map(|(k, n)| format!("{k} {}", nines_common::units::thousands(n)))
            .collect();
        kinds.join(", ")
    }

    /// The kinds that occurred, with their counts, in report order.
    pub fn nonzero(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::ALL
            .iter()
            .map(|&k| (k, self.get(k)))
            .filter(|(_, n)| *n > 0)
    }
}

impl Serialize for ErrorCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.nonzero().map(|(k, n)| (k.name(), n)))
    }
}

impl<'de> Deserialize<'de> for ErrorCounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, u64>::deserialize(d)?;
        let mut counts = ErrorCounts::default();
        for (name, n) in map {
            let kind = ErrorKind::ALL
                .iter()
                .find(|k| k.name() == name)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown error kind `{name}`")))?;
            counts.add(*kind, n);
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_and_round_trip_by_name() {
        let mut a = ErrorCounts::default();
        a.add(ErrorKind::Timeout, 3);
        a.add(ErrorKind::Unsent, 2);
        let mut b = ErrorCounts::default();
        b.add(ErrorKind::Timeout, 1);
        a.add_all(&b);
        assert_eq!((a.get(ErrorKind::Timeout), a.total()), (4, 6));
        let v = serde_json::to_value(a).unwrap();
        assert_eq!(v, serde_json::json!({"timeout": 4, "unsent": 2}));
        assert_eq!(serde_json::from_value::<ErrorCounts>(v).unwrap(), a);
        assert!(serde_json::from_value::<ErrorCounts>(serde_json::json!({"gremlins": 1})).is_err());
        let names: std::collections::HashSet<_> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len(), "names are unique");
    }
}
