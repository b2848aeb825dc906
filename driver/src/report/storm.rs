//! A storm's own figures in the Report (seed 003's statistics): clients started and connected,
//! connect (and handshake) time percentiles, connect timeouts, crashes seen, and memory per
//! connection on both sides. Messages, echo latency, failures by errno and connections lost are
//! the Report's usual keys.

use serde::{Deserialize, Serialize};

use super::histogram::Hist;
use super::{IntervalRecord, LatencySummary};
use crate::host::SockStat;

/// Connections lost in one second that count as a crash seen: at least this many...
const CRASH_MIN_LOST: u64 = 10;
/// ...and at least this share of those open at the start of that second.
const CRASH_MIN_SHARE: f64 = 0.10;

/// Many connections lost at once: the server (or something between) likely died.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Crash {
    /// Seconds after the start when it happened.
    pub at_s: f64,
    /// Connections lost in that second.
    pub lost: u64,
    /// Connections open at the start of it.
    pub open_before: u64,
}

/// Memory on one side, from /proc.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct Memory {
    /// Resident set size before the storm, KiB.
    pub rss_before_kib: u64,
    /// Resident set size while holding every connection, KiB.
    pub rss_holding_kib: u64,
    /// (holding − before) / connections open while holding, bytes.
    pub bytes_per_connection: Option<f64>,
}

/// What a storm measured besides the usual keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StormSummary {
    /// Connections the driver started.
    pub started: u64,
    /// Connections that became ready (TCP connected, and the handshake done for ws).
    pub connected: u64,
    /// Connections open at the end of the hold (connected less lost).
    pub open_at_end: u64,
    /// Connects given up after `--connect-timeout` (also in `driver.connect_failures` as
    /// ETIMEDOUT; a TLS handshake that stalls is a `tls_handshake` failure).
    pub connect_timeouts: u64,
    /// Connect (and handshake) time, µs.
    pub connect_time_us: Option<LatencySummary>,
    /// Its distribution, ns.
    pub connect_time_histogram: Hist,
    /// How late the driver sent messages after they were due, µs: the part of the echo
    /// latency that is the driver's own.
    #[serde(default)]
    pub send_lag_us: Option<LatencySummary>,
    /// Seconds in which many connections were lost at once.
    pub crashes: Vec<Crash>,
    /// The driver's memory (all driver processes, when merged).
    pub driver_memory: Option<Memory>,
    /// The server's memory (its processes found by the port it listens on, when local).
    pub server_memory: Option<Memory>,
    /// The server's process ids that were measured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_pids: Vec<u32>,
    /// Sessions, when clients closed and were replaced (`--session-messages`,
    /// `--session-duration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Sessions>,
    /// Kernel TCP socket memory before the storm.
    pub sockstat_before: Option<SockStat>,
    /// ... and while holding.
    pub sockstat_holding: Option<SockStat>,
}

/// What a storm with sessions measured of them. Every connect (replacements included) is in
/// `started` and in the connect and handshake times.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Sessions {
    /// Sessions that ended on the driver's terms (past their cap, every reply in).
    pub completed: u64,
    /// Connects started per second over the run (the ramp's and the replacements').
    pub connects_per_s: f64,
    /// Replies had by the clients still connected at the end, whose sessions were unfinished:
    /// with every message answered, `completed` × `--session-messages` + this = the replies.
    pub unfinished_replies: u64,
}

impl Sessions {
    /// The parts' sessions added up (their runs span the same window, so their connect rates
    /// add); none when no part had sessions.
    fn merge(parts: &[&StormSummary]) -> Option<Sessions> {
        let all: Vec<Sessions> = parts.iter().filter_map(|p| p.sessions).collect();
        (!all.is_empty()).then(|| Sessions {
            completed: all.iter().map(|s| s.completed).sum(),
            connects_per_s: all.iter().map(|s| s.connects_per_s).sum(),
            unfinished_replies: all.iter().map(|s| s.unfinished_replies).sum(),
        })
    }
}

/// Storms from several driver processes as one: counts and connect times added, crashes found
/// again in the merged seconds, memory added over the drivers (the server, measured by each,
/// and the kernel's sockets, shared, taken at their largest).
/// `send_lag` is the parts' send-lag histograms merged, when every part saved one.
pub fn merge(
    parts: &[&StormSummary],
    intervals: &[IntervalRecord],
    send_lag: Option<LatencySummary>,
) -> Result<StormSummary, super::histogram::HistogramError> {
    let mut h = crate::report::histogram::growable();
    for p in parts {
        super::histogram::add(&mut h, &p.connect_time_histogram.0)?;
    }
    let sum = |f: fn(&StormSummary) -> u64| parts.iter().map(|p| f(p)).sum::<u64>();
    let open = sum(|p| p.open_at_end);
    let add_mem = |ms: Vec<Memory>| -> Option<Memory> {
        let first = *ms.first()?;
        let (b, h) = ms.iter().fold((0, 0), |a, m| {
            (a.0 + m.rss_before_kib, a.1 + m.rss_holding_kib)
        });
        Some(Memory {
            rss_before_kib: b,
            rss_holding_kib: h,
            bytes_per_connection: (open > 0 && first.bytes_per_connection.is_some())
                .then(|| (h.saturating_sub(b) * 1024) as f64 / open as f64),
        })
    };
    let server = parts
        .iter()
        .filter_map(|p| p.server_memory)
        .max_by_key(|m| m.rss_holding_kib)
        .map(|m| Memory {
            bytes_per_connection: (open > 0).then(|| {
                (m.rss_holding_kib.saturating_sub(m.rss_before_kib) * 1024) as f64 / open as f64
            }),
            ..m
        });
    let max_sock = |f: fn(&StormSummary) -> Option<SockStat>| {
        parts
            .iter()
            .filter_map(|p| f(p))
            .max_by_key(|s| s.tcp_inuse)
    };
    let mut pids: Vec<u32> = parts.iter().flat_map(|p| p.server_pids.clone()).collect();
    pids.sort_unstable();
    pids.dedup();
    Ok(StormSummary {
        started: sum(|p| p.started),
        connected: sum(|p| p.connected),
        open_at_end: open,
        connect_timeouts: sum(|p| p.connect_timeouts),
        connect_time_us: LatencySummary::from_histogram(&h),
        connect_time_histogram: Hist(h),
        // Summaries cannot be added: without the histograms (results saved before they were),
        // the part with the worst p99 stands for all.
        send_lag_us: send_lag.or_else(|| {
            parts
                .iter()
                .filter_map(|p| p.send_lag_us)
                .max_by(|a, b| a.p99.total_cmp(&b.p99))
        }),
        crashes: crashes(intervals),
        driver_memory: add_mem(parts.iter().filter_map(|p| p.driver_memory).collect()),
        server_memory: server,
        server_pids: pids,
        sessions: Sessions::merge(parts),
        sockstat_before: max_sock(|p| p.sockstat_before),
        sockstat_holding: max_sock(|p| p.sockstat_holding),
    })
}

/// Seconds in which at least 10 connections, and 10% of those open, were lost.
pub fn crashes(intervals: &[IntervalRecord]) -> Vec<Crash> {
    let mut open: u64 = 0;
    let mut out = Vec::new();
    for iv in intervals {
        let before = open;
        if iv.connections_lost >= CRASH_MIN_LOST
            && iv.connections_lost as f64 >= CRASH_MIN_SHARE * before.max(1) as f64
        {
            out.push(Crash {
                at_s: iv.start_s,
                lost: iv.connections_lost,
                open_before: before,
            });
        }
        open = (open + iv.connections_opened)
            .saturating_sub(iv.connections_lost + iv.connections_closed);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::new_histogram;

    #[test]
    fn many_losses_in_one_second_are_a_crash() {
        let iv = |start_s: f64, opened, lost| IntervalRecord {
            connections_opened: opened,
            connections_lost: lost,
            ..IntervalRecord::new(start_s, 1.0, &new_histogram(), 0)
        };
        let ivs = [
            iv(0.0, 1000, 0),
            iv(1.0, 0, 3),
            iv(2.0, 0, 500),
            iv(3.0, 0, 12),
        ];
        let c = crashes(&ivs);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!((c[0].at_s, c[0].lost, c[0].open_before), (2.0, 500, 997));
    }
}
