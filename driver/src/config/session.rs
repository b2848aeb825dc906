//! A storm's sessions: how long one client stays connected before it closes and a new client
//! connects in its place (connect churn at a steady population), and how a client spaces its
//! messages. A storm without sessions holds every connection to the end, as seed 003's test does.
//!
//! A session ends after a number of messages, after a time connected, or whichever comes first
//! when both are given: two caps, each optional, so the struct says it plainly. Ending is the
//! driver's choice, never an error: the engine (engine/storm) sends nothing past either cap and
//! closes once the replies in flight are in.

use std::time::Duration;

use nines_common::units::HumanDuration;
use nines_common::usage::{check_range, UsageError};
use serde::{Deserialize, Serialize};

use super::secs;

/// Most messages one session may be given (a count past it is a storm without sessions).
pub const MAX_SESSION_MESSAGES: u64 = 1_000_000_000;
/// Shortest session duration: under a millisecond a client is all connect and no session.
pub const MIN_SESSION_DURATION: Duration = Duration::from_millis(1);

/// When one client of a storm closes (cleanly: its close is the driver's choice, not a loss),
/// to be replaced at once by a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Closes once it has sent this many messages and their replies are in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<u64>,
    /// Closes this long after it connected (nothing sent after it; replies in flight awaited).
    #[serde(
        rename = "duration_s",
        default,
        with = "secs::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
}

impl Session {
    /// A session with the caps given; none without either (connections are then held).
    pub fn new(messages: Option<u64>, duration: Option<Duration>) -> Option<Session> {
        (messages.is_some() || duration.is_some()).then_some(Session { messages, duration })
    }

    /// Each cap within its bounds (a duration up to `max_duration`), named by its flag.
    pub(crate) fn check(&self, max_duration: Duration, e: &mut Vec<UsageError>) {
        let why = "a session must last at least one message (drop the flag to hold connections)";
        if let Some(n) = self.messages {
            check_range(e, "--session-messages", n, (1, MAX_SESSION_MESSAGES), why);
        }
        if let Some(d) = self.duration {
            let h = HumanDuration;
            check_range(
                e,
                "--session-duration",
                h(d),
                (h(MIN_SESSION_DURATION), h(max_duration)),
                why,
            );
        }
    }

    /// The session in words: "3 messages", "2s", "3 messages or 2s".
    pub fn describe(&self) -> String {
        let messages = self
            .messages
            .map(|n| format!("{n} message{}", if n == 1 { "" } else { "s" }));
        let duration = self.duration.map(|d| HumanDuration(d).to_string());
        match (messages, duration) {
            (Some(m), Some(d)) => format!("{m} or {d}"),
            (Some(w), None) | (None, Some(w)) => w,
            (None, None) => "held".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_needs_a_cap_and_each_cap_names_its_flag() {
        assert_eq!(Session::new(None, None), None);
        let s = Session::new(Some(3), Some(Duration::from_secs(2))).unwrap();
        assert_eq!(s.describe(), "3 messages or 2s");
        let v = serde_json::to_value(s).unwrap();
        assert_eq!(
            (v["messages"].as_u64(), v["duration_s"].as_f64()),
            (Some(3), Some(2.0))
        );
        assert_eq!(serde_json::from_value::<Session>(v).unwrap(), s);
        let only = Session::new(Some(1), None).unwrap();
        assert!(serde_json::to_value(only)
            .unwrap()
            .get("duration_s")
            .is_none());
        let mut e = Vec::new();
        Session::new(Some(0), Some(Duration::ZERO))
            .unwrap()
            .check(Duration::from_secs(60), &mut e);
        let flags: Vec<&str> = e.iter().map(|u| u.flag).collect();
        assert_eq!(flags, ["--session-messages", "--session-duration"]);
        assert!(e[0].to_string().contains("0 is out of range"), "{}", e[0]);
    }
}
