//! Bounds on every setting a user can trip, checked once before anything starts (no socket
//! opened, no buffer allocated): each violation is one [`UsageError`] naming the flag and the
//! range it accepts, and the binary exits 2. Each load model and each request kind is checked
//! for what it has; which flags it takes at all is decided where the flags are read.

use std::time::Duration;

use nines_common::units::{thousands, HumanDuration};
use nines_common::usage::{check_range, UsageError};
use nines_protocol::{DEFAULT_MAX_FRAME_BYTES, HEADER_LEN};

use request::check_request;

mod request;

use super::{
    defaults, Bench, BenchConfig, Limits, Load, NinesOp, Protocol, Rate, RequestSpec, StopAt,
    Storm, Target,
};

/// Most driver threads (and embedded server workers).
pub const MAX_THREADS: usize = 1024;
/// Most requests in flight per connection.
pub const MAX_PIPELINE: usize = 4096;
/// Most requests per second one driver thread is asked to schedule. No TCP driver thread sends
/// this many; past it the schedule itself would cost more than a core.
pub const MAX_RATE_PER_THREAD: f64 = 10_000_000.0;
/// Largest request payload (or Source reply asked for): one nines frame at the default maximum.
pub const MAX_PAYLOAD_BYTES: usize = DEFAULT_MAX_FRAME_BYTES - HEADER_LEN;
/// Largest HTTP request body (`--body`): each connection keeps the request it sends.
pub const MAX_BODY_BYTES: usize = 16 << 20;
/// Smallest `--max-response`: the most of a reply the driver reads in at once (a read, a
/// response head), so a reply taken in one piece can never be over the bound, and only one
/// taken across reads needs counting.
pub const MIN_RESPONSE_BYTES: u64 = 64 << 10;
/// Most request bytes all connections may have in flight at once.
pub const MAX_IN_FLIGHT_BYTES: u64 = 1 << 30;
/// Longest measurement: a report keeps one histogram per second.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// Longest warm-up.
pub const MAX_WARMUP: Duration = Duration::from_secs(3600);
/// Longest request timeout: the histograms track latencies up to 60 s.
pub const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest connect or drain timeout.
pub const MAX_OTHER_TIMEOUT: Duration = Duration::from_secs(300);
/// Most CPU microseconds a Work request may ask for (60 s).
pub const MAX_WORK_US: u32 = 60_000_000;
/// Most connections a storm opens per second.
pub const MAX_CONNECT_RATE: f64 = 1e6;
impl BenchConfig {
    /// Checks every bound against `limits`; empty when the run may start.
    pub fn validate_with(&self, limits: &Limits) -> Vec<UsageError> {
        self.validate_over(limits, 1)
    }

    /// [`Self::validate_with`] for a run spread over `processes` driver processes (a storm's
    /// `--processes`), each holding its share of the connections.
    pub fn validate_over(&self, limits: &Limits, processes: usize) -> Vec<UsageError> {
        let mut e = Vec::new();
        self.check_shape(limits, processes, &mut e);
        match &self.load {
            Load::ClosedLoop(b) => check_bench(b, &mut e),
            Load::OpenLoop { bench, rate, .. } => {
                check_bench(bench, &mut e);
                match rate {
                    Rate::Steady { rate_per_s } => self.check_rate(*rate_per_s, &mut e),
                    Rate::Staged { stages } => {
                        let length = match bench.stop {
                            StopAt::Duration(d) => Some(d),
                            StopAt::Requests(_) => None,
                        };
                        stages.check(length, bench.warmup, self.max_rate(), &mut e);
                    }
                }
            }
            Load::Storm(st) => self.check_storm(st, &mut e),
        }
        if let Some(lag) = self.load.lag_threshold() {
            let us = HumanDuration(Duration::from_micros(1));
            check_range(
                &mut e,
                "--lag-threshold",
                HumanDuration(lag),
                (us, HumanDuration(MAX_REQUEST_TIMEOUT)),
                "",
            );
        }
        self.check_times(limits, &mut e);
        if let Some(f) = &self.flame {
            let why = "(perf's own cost grows with it)";
            check_range(&mut e, "--flame-hz", f.hz, (1, defaults::MAX_FLAME_HZ), why);
        }
        for line in self.request.lines() {
            check_request(&line.request, &mut e);
        }
        e.dedup_by(|a, b| a.flag == b.flag && a.message == b.message);
        if self.embedded() && self.request.protocol() == Protocol::Redis {
            e.push(UsageError::new(
                "--protocol",
                "redis: the embedded nines-server does not serve it; give a redis:// target",
            ));
        }
        if e.is_empty() {
            self.check_in_flight(&mut e);
        }
        e
    }

    fn check_shape(&self, limits: &Limits, processes: usize, e: &mut Vec<UsageError>) {
        check_range(e, "--threads", self.threads, (1, MAX_THREADS), "");
        if let Target::Embedded { server_workers } = self.target {
            check_range(e, "--server-workers", server_workers, (1, MAX_THREADS), "");
        }
        self.check_descriptors(limits, processes, e);
    }

    /// Connections x pipeline x request size: what may be in flight at once, bounded.
    fn check_in_flight(&self, e: &mut Vec<UsageError>) {
        let Some(bench) = self.load.bench() else {
            return;
        };
        let request_bytes = self.request.wire_bytes();
        let in_flight = (self.connections as u64)
            .saturating_mul(bench.pipeline as u64)
            .saturating_mul(request_bytes);
        if in_flight > MAX_IN_FLIGHT_BYTES {
            e.push(UsageError::new(
                "--pipeline",
                format!(
                    "{}: --connections {} x --pipeline {} x {request_bytes} B requests would keep {} MiB in flight, more than the {} MiB allowed; lower one of them",
                    bench.pipeline,
                    self.connections,
                    bench.pipeline,
                    thousands(in_flight >> 20),
                    MAX_IN_FLIGHT_BYTES >> 20
                ),
            ));
        }
    }

    /// The most requests per second the run's driver threads may be asked for.
    fn max_rate(&self) -> f64 {
        MAX_RATE_PER_THREAD * self.threads_used() as f64
    }

    fn check_rate(&self, rate_per_s: f64, e: &mut Vec<UsageError>) {
        let max = self.max_rate();
        if !(rate_per_s.is_finite() && rate_per_s > 0.0 && rate_per_s <= max) {
            e.push(UsageError::new(
                "--rate",
                format!(
                    "{rate_per_s} is out of range: allowed more than 0 and at most {} requests per second in total (10,000,000 per driver thread; add --threads or driver machines for more)",
                    thousands(max as u64)
                ),
            ));
        }
    }

    fn check_storm(&self, st: &Storm, e: &mut Vec<UsageError>) {
        if !(st.connect_rate.is_finite()
            && st.connect_rate > 0.0
            && st.connect_rate <= MAX_CONNECT_RATE)
        {
            e.push(UsageError::new(
                "--connect-rate",
                format!(
                    "{} is out of range: more than 0 and at most 1,000,000 per second",
                    st.connect_rate
                ),
            ));
        } else {
            self.check_storm_length(st, e);
        }
        check_range(
            e,
            "--interval",
            HumanDuration(st.interval),
            (
                HumanDuration(Duration::from_millis(1)),
                HumanDuration(Duration::from_secs(3600)),
            ),
            "",
        );
        if let Some(session) = &st.session {
            session.check(MAX_DURATION, e);
        }
        // A storm's messages come back: nines echo, echo or ws. The flag named is the one that
        // chose something else.
        let not_echoed = self.request.lines().iter().find_map(|l| match l.request {
            RequestSpec::Nines(NinesOp::Echo { .. })
            | RequestSpec::Echo { .. }
            | RequestSpec::Ws(_) => None,
            RequestSpec::Nines(_) => Some("--op"),
            RequestSpec::Http(_) | RequestSpec::Redis(_) => Some("--protocol"),
        });
        if let Some(flag) = not_echoed {
            e.push(UsageError::new(
                flag,
                format!(
                    "{}: a storm sends messages that come back (nines echo, echo or ws)",
                    self.request.describe()
                ),
            ));
        }
    }

    /// A storm lasts its ramp (connections at the connect rate) plus its hold (`--duration`):
    /// at most [`MAX_DURATION`] in all, and the error names the part that made it too long.
    fn check_storm_length(&self, st: &Storm, e: &mut Vec<UsageError>) {
        let ramp = st.ramp(self.connections);
        if ramp >= MAX_DURATION {
            e.push(UsageError::new(
                "--connect-rate",
                format!(
                    "{}/s: opening {} connections would take longer than the {} a storm may last; raise --connect-rate or lower --connections",
                    if st.connect_rate >= 0.001 {
                        format!("{}", st.connect_rate)
                    } else {
                        format!("{:.1e}", st.connect_rate)
                    },
                    thousands(self.connections as u64),
                    HumanDuration(MAX_DURATION),
                ),
            ));
        } else {
            let room = MAX_DURATION - ramp;
            let why = format!(
                "the ramp ({} connections at {}/s) takes {} of the {} a storm may last",
                thousands(self.connections as u64),
                st.connect_rate,
                HumanDuration(ramp),
                HumanDuration(MAX_DURATION),
            );
            let h = HumanDuration;
            check_range(
                e,
                "--duration",
                h(st.hold),
                (h(Duration::ZERO), h(room)),
                &why,
            );
        }
    }

    fn check_times(&self, limits: &Limits, e: &mut Vec<UsageError>) {
        let h = HumanDuration;
        let (zero, ms) = (h(Duration::ZERO), h(Duration::from_millis(1)));
        let timeouts = [
            ("--timeout", self.request_timeout, ms, MAX_REQUEST_TIMEOUT),
            (
                "--connect-timeout",
                self.connect_timeout,
                ms,
                MAX_OTHER_TIMEOUT,
            ),
            (
                "--drain-timeout",
                self.drain_timeout,
                zero,
                MAX_OTHER_TIMEOUT,
            ),
        ];
        for (flag, d, lo, hi) in timeouts {
            check_range(e, flag, h(d), (lo, h(hi)), "");
        }
        if let Some(at) = self.start_at_unix_s {
            let ahead = at - limits.now_unix_s;
            // `+0s` is "now": checked a moment after it was read, it must not read as past.
            if !(-1.0..=86_400.0).contains(&ahead) {
                e.push(UsageError::new(
                    "--start-at",
                    format!(
                        "{at:.1} is {:.1} s {}: give a time within the next 24 h (e.g. +30s)",
                        ahead.abs(),
                        if ahead < 0.0 { "in the past" } else { "ahead" }
                    ),
                ));
            }
        }
    }
}

/// What closed- and open-loop load share: pipeline, warm-up, stop, error limit.
fn check_bench(b: &Bench, e: &mut Vec<UsageError>) {
    let h = HumanDuration;
    check_range(e, "--pipeline", b.pipeline, (1, MAX_PIPELINE), "");
    check_range(
        e,
        "--warmup",
        h(b.warmup),
        (h(Duration::ZERO), h(MAX_WARMUP)),
        "",
    );
    match b.stop {
        StopAt::Duration(d) => check_range(
            e,
            "--duration",
            h(d),
            (h(Duration::from_millis(1)), h(MAX_DURATION)),
            "",
        ),
        StopAt::Requests(0) => e.push(UsageError::at_least("--requests", 0, 1, "")),
        StopAt::Requests(_) => {}
    }
    if b.max_errors == 0 {
        let why = "the run stops at this many errors; give a large number to never stop";
        e.push(UsageError::at_least("--max-errors", 0, 1, why));
    }
}

#[cfg(test)]
mod tests;
