//! Self-checks: the reasons a result may not measure the target alone, as typed values. Each
//! has a kind, its evidence (the numbers that triggered it) and a message for people, so a
//! later SLO gate or diagnosis can key on the kind and quote the evidence.
//!
//! In JSON: `{"kind": "driver_busy", "evidence": {"thread": 0, "busy_pct": 97.0}, "message": ...}`.

use std::collections::BTreeMap;

use nines_common::units::thousands;
use serde::{Deserialize, Serialize};

/// What a self-check found, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "evidence", rename_all = "snake_case")]
pub enum Finding {
    /// Open loop: fewer replies per second than requested.
    RateNotAchieved {
        /// `--rate`.
        requested_rps: f64,
        /// Measured replies per second.
        achieved_rps: f64,
    },
    /// Open loop: requests fell due and were never sent (no connection had a free slot).
    UnsentRequests {
        /// Requests given up on.
        unsent: u64,
        /// `--timeout`, seconds: how long one could wait for a slot.
        timeout_s: f64,
    },
    /// Open loop: the driver sent late, so it shaped the figures.
    ScheduleLag {
        /// Schedule lag p99, µs.
        p99_us: f64,
        /// `--lag-threshold`, µs.
        threshold_us: f64,
    },
    /// A driver thread was nearly always busy.
    DriverBusy {
        /// Thread number.
        thread: usize,
        /// Share of its wall time on CPU, not counting idle spinning.
        busy_pct: f64,
    },
    /// Connections could not be established.
    ConnectFailures {
        /// Connections that failed.
        failed: u64,
        /// Connections asked for.
        asked: u64,
        /// Failures by OS error (`EMFILE`, `ECONNREFUSED`, `ETIMEDOUT`, ...).
        by_errno: BTreeMap<String, u64>,
    },
    /// Established connections were lost mid-run.
    ConnectionsLost {
        /// Connections lost.
        lost: u64,
        /// Connections that were open.
        opened: u64,
    },
    /// The kernel's accept queue overflowed during the run.
    ListenOverflows {
        /// TcpExt ListenOverflows during the run.
        count: u64,
    },
    /// The server did less than asked (nines' CAPPED flag) for some replies.
    CappedReplies {
        /// Replies marked CAPPED.
        capped: u64,
        /// Replies received.
        replies: u64,
        /// What each request asked for.
        asked: String,
    },
    /// `nines merge`: the results did not overlap in time, so their throughputs do not add.
    MergedRunsApart {
        /// Results merged.
        parts: usize,
    },
    /// `nines merge`: the results loaded different targets or sent different requests.
    MergedDifferentLoads {
        /// What differs.
        what: String,
    },
}

/// A finding with its message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The kind and its evidence.
    #[serde(flatten)]
    pub finding: Finding,
    /// The finding in words, with what to do about it.
    pub message: String,
}

impl From<Finding> for Check {
    fn from(finding: Finding) -> Check {
        let message = finding.message();
        Check { finding, message }
    }
}

impl Finding {
    /// The finding's kind as reports name it (`driver_busy`).
    pub fn kind(&self) -> String {
        // The name serde writes, so it is spelled in one place: the enum's `rename_all`.
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
            .unwrap_or_default()
    }

    /// The finding in words, with what to do about it.
    pub fn message(&self) -> String {
        match self {
            Finding::RateNotAchieved { requested_rps, achieved_rps } => format!(
                "achieved {} req/s, below 99% of the requested {} req/s: the target (or the driver) did not keep up, and the latencies include the queueing that caused",
                thousands(achieved_rps.round() as u64),
                thousands(requested_rps.round() as u64)
            ),
            Finding::UnsentRequests { unsent, timeout_s } => format!(
                "{} requests fell due but were never sent: no connection had a free slot within --timeout {timeout_s} s of their due time (or before the run ended); lower --rate, or add --connections or --pipeline",
                thousands(*unsent)
            ),
            Finding::ScheduleLag { p99_us, threshold_us } => format!(
                "driver schedule lag p99 is {p99_us:.1} µs (threshold {threshold_us:.1} µs): the load generator could not send on time, so it, not only the target, shaped these figures; add --threads or driver machines"
            ),
            Finding::DriverBusy { thread, busy_pct } => format!(
                "driver thread {thread} was {busy_pct:.0}% busy: the driver may be the bottleneck; add --threads, or load from another machine"
            ),
            Finding::ConnectFailures { failed, asked, by_errno } => {
                let why: Vec<String> = by_errno.iter().map(|(e, n)| format!("{e} x{}", thousands(*n))).collect();
                let hint = if by_errno.contains_key("EMFILE") || by_errno.contains_key("ENFILE") {
                    ": the descriptor limit was reached (ulimit -n, fs.file-max); lower --connections or spread them over driver processes"
                } else {
                    ""
                };
                format!("{} of {} connections could not be established ({}){hint}", thousands(*failed), thousands(*asked), why.join(", "))
            }
            Finding::ConnectionsLost { lost, opened } => format!(
                "{} of {} connection(s) were lost mid-run; their requests in flight were counted as errors (aborted)",
                thousands(*lost),
                thousands(*opened)
            ),
            Finding::ListenOverflows { count } => format!(
                "the kernel counted {} accept-queue overflows (ListenOverflows) during the run: connections waited or were retried; raise the server's backlog and net.core.somaxconn",
                thousands(*count)
            ),
            Finding::CappedReplies { capped, replies, asked } => format!(
                "{} of {} replies were CAPPED by the server: it did less than the {asked} asked for (its --work-cap-us or --max-frame is lower), so these figures measure the server's cap, not the workload asked for",
                thousands(*capped),
                thousands(*replies)
            ),
            Finding::MergedRunsApart { parts } => format!(
                "the {parts} results did not overlap in time: throughput is their requests over the whole span; merge is meant for drivers that ran together (--start-at)"
            ),
            Finding::MergedDifferentLoads { what } => format!(
                "the merged results differ in {what}: the distribution mixes different loads"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_carry_kind_evidence_and_message_and_round_trip() {
        let c = Check::from(Finding::DriverBusy {
            thread: 1,
            busy_pct: 97.0,
        });
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["kind"], "driver_busy");
        assert_eq!(c.finding.kind(), "driver_busy");
        assert_eq!(v["evidence"]["busy_pct"], 97.0);
        assert!(v["message"].as_str().unwrap().contains("97% busy"));
        assert_eq!(serde_json::from_value::<Check>(v).unwrap(), c);
        let mut by_errno = BTreeMap::new();
        by_errno.insert("EMFILE".to_string(), 5);
        let m = Finding::ConnectFailures {
            failed: 5,
            asked: 10,
            by_errno,
        }
        .message();
        assert!(m.contains("EMFILE x5") && m.contains("ulimit -n"), "{m}");
    }
}
