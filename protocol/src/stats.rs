//! The Stats reply payload: server counters as `name value` text lines.
//!
//! Text rather than a binary struct so that new counters (the phase profile, per-kind errors)
//! can be added without a version bump and a human can read a capture. It is produced and parsed
//! off the hot path, so allocation here is fine.

use std::fmt;

/// Stats name of the server threads' total CPU time so far, in nanoseconds.
pub const CPU_NS: &str = "cpu_ns";
/// Stats name of the number of CPUs the server may run on (its affinity and cgroup).
pub const CPUS: &str = "cpus";
/// Stats name prefix of one worker's or acceptor's CPU time so far: `thread_cpu_ns:NAME:TID`.
pub const THREAD_CPU_NS: &str = "thread_cpu_ns:";

/// Stats name of the answering process's resident memory, in bytes (VmRSS).
pub const PROCESS_RSS_BYTES: &str = "process_rss_bytes";
/// Stats name of the answering process's open descriptors.
pub const PROCESS_FDS: &str = "process_fds";
/// Stats name of the answering process's threads.
pub const PROCESS_THREADS: &str = "process_threads";
/// Stats name of the answering process's descriptors that are sockets (for nines-server, its
/// TCP listeners and connections).
pub const PROCESS_SOCKETS: &str = "process_sockets";

/// What the process that answered a Stats request holds: the four `process_*` pairs. Named for
/// the process, not the server, because a server of several processes (`--processes N`)
/// answers each Stats request from whichever process holds the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessUsage {
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// Open descriptors.
    pub fds: u64,
    /// Threads.
    pub threads: u64,
    /// Descriptors that are sockets.
    pub sockets: u64,
}

impl ProcessUsage {
    /// The Stats pairs, in the order a reply carries them.
    pub fn pairs(&self) -> [(&'static str, u64); 4] {
        [
            (PROCESS_RSS_BYTES, self.rss_bytes),
            (PROCESS_FDS, self.fds),
            (PROCESS_THREADS, self.threads),
            (PROCESS_SOCKETS, self.sockets),
        ]
    }

    /// The usage a parsed Stats reply carries; none unless it has all four pairs (a server
    /// older than them has none).
    pub fn from_pairs(pairs: &[(String, u64)]) -> Option<ProcessUsage> {
        let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        Some(ProcessUsage {
            rss_bytes: get(PROCESS_RSS_BYTES)?,
            fds: get(PROCESS_FDS)?,
            threads: get(PROCESS_THREADS)?,
            sockets: get(PROCESS_SOCKETS)?,
        })
    }
}

/// Appends `name value\n` for each pair to `out`.
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, u64)>, out: &mut Vec<u8>) {
    use std::io::Write;
    for (k, v) in pairs {
        // Writing to a Vec cannot fail.
        let _ = writeln!(out, "{k} {v}");
    }
}

/// A Stats payload that is not `name value` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number of the first bad line.
    pub line: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stats payload line {} is not `name value`", self.line)
    }
}

impl std::error::Error for ParseError {}

/// Parses a Stats payload into (name, value) pairs, in the order sent.
pub fn parse(payload: &[u8]) -> Result<Vec<(String, u64)>, ParseError> {
    let text = std::str::from_utf8(payload).map_err(|_| ParseError { line: 1 })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split(' ');
        let (Some(k), Some(v), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ParseError { line: i + 1 });
        };
        let v = v.parse().map_err(|_| ParseError { line: i + 1 })?;
        out.push((k.to_string(), v));
    }
    Ok(out)
}

/// Where a server's time went between two Stats snapshots, as shares of the whole.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Accepting connections and handing them to workers.
    pub accept_pct: f64,
    /// Reading requests (read() calls that returned data).
    pub read_pct: f64,
    /// Decoding, handling and encoding.
    pub process_pct: f64,
    /// Writing replies.
    pub write_pct: f64,
    /// Everything else while awake: event dispatch, wakeups, registration, bookkeeping.
    pub overhead_pct: f64,
    /// Nanoseconds the shares are of.
    pub total_ns: u64,
}

impl Profile {
    /// Phase names, in the order of [`Profile::shares`].
    pub const PHASES: [&'static str; 5] = ["accept", "read", "process", "write", "overhead"];

    /// The five shares, in the order of [`Profile::PHASES`]; they sum to 100.
    pub fn shares(&self) -> [f64; 5] {
        [
            self.accept_pct,
            self.read_pct,
            self.process_pct,
            self.write_pct,
            self.overhead_pct,
        ]
    }

    /// The phase with the largest share: where to look first.
    pub fn bottleneck(&self) -> &'static str {
        let s = self.shares();
        let mut best = 0;
        for i in 1..s.len() {
            if s[i] > s[best] {
                best = i;
            }
        }
        Self::PHASES[best]
    }

    /// The profile of what happened between two snapshots of Stats pairs, or `None` if the
    /// server recorded no time in between (no load, or a server without phase counters).
    pub fn between(before: &[(String, u64)], after: &[(String, u64)]) -> Option<Profile> {
        let delta = |name: &str| {
            let get = |pairs: &[(String, u64)]| {
                pairs.iter().find(|(k, _)| k == name).map_or(0, |(_, v)| *v)
            };
            get(after).saturating_sub(get(before))
        };
        let accept = delta("phase_accept_ns");
        let read = delta("phase_read_ns");
        let process = delta("phase_process_ns");
        let write = delta("phase_write_ns");
        let overhead = delta("phase_busy_ns").saturating_sub(read + process + write);
        let total = accept + read + process + write + overhead;
        if total == 0 {
            return None;
        }
        let pct = |v: u64| v as f64 * 100.0 / total as f64;
        Some(Profile {
            accept_pct: pct(accept),
            read_pct: pct(read),
            process_pct: pct(process),
            write_pct: pct(write),
            overhead_pct: pct(overhead),
            total_ns: total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, u64)]) -> Vec<(String, u64)> {
        v.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn profile_shares_sum_to_100_and_name_the_largest() {
        let before = pairs(&[("phase_read_ns", 100), ("phase_busy_ns", 1000)]);
        let after = pairs(&[
            ("phase_accept_ns", 50),
            ("phase_read_ns", 400),
            ("phase_process_ns", 100),
            ("phase_write_ns", 250),
            ("phase_busy_ns", 1900),
        ]);
        // busy delta 900 - (300 + 100 + 250) = 250 overhead; total 950.
        let p = Profile::between(&before, &after).unwrap();
        assert_eq!(p.total_ns, 950);
        assert!((p.shares().iter().sum::<f64>() - 100.0).abs() < 1e-9);
        assert!((p.read_pct - 300.0 * 100.0 / 950.0).abs() < 1e-9);
        assert_eq!(p.bottleneck(), "read");
        assert!(Profile::between(&after, &after).is_none());
    }

    /// A process's usage goes out as four Stats lines among the counters and comes back
    /// whole; a reply without all four (an older server's) carries none.
    #[test]
    fn process_usage_round_trips_through_a_stats_payload() {
        let held = ProcessUsage {
            rss_bytes: 7 << 30,
            fds: 10_007,
            threads: 9,
            sockets: 10_002,
        };
        let mut v = Vec::new();
        encode([("requests", 10)], &mut v);
        encode(held.pairs(), &mut v);
        encode([(CPU_NS, 5)], &mut v);
        let pairs = parse(&v).unwrap();
        assert_eq!(ProcessUsage::from_pairs(&pairs), Some(held));
        let older: Vec<_> = pairs
            .into_iter()
            .filter(|(k, _)| k != PROCESS_SOCKETS)
            .collect();
        assert_eq!(ProcessUsage::from_pairs(&older), None);
    }

    #[test]
    fn round_trip_and_errors() {
        let mut v = Vec::new();
        encode([("requests", 10), ("bytes_in", u64::MAX)], &mut v);
        assert_eq!(
            parse(&v).unwrap(),
            vec![
                ("requests".to_string(), 10),
                ("bytes_in".to_string(), u64::MAX)
            ]
        );
        assert_eq!(parse(b"a 1\nb two\n"), Err(ParseError { line: 2 }));
        assert_eq!(parse(b"a 1 2\n"), Err(ParseError { line: 1 }));
        assert_eq!(parse(&[0xff, 0xfe]), Err(ParseError { line: 1 }));
    }
}
