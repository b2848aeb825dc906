//! A run's report from what its threads measured: histograms added (true percentiles, never
//! averages of percentiles), errors added, the outcome decided, and the self-checks run. It is
//! the run's business: the report itself knows nothing of driver threads.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{BenchConfig, Load, StopAt, Storm};
use crate::engine::control::{StopReason, Timeline};
use crate::engine::handshakes::Handshakes;
use crate::engine::ThreadOutcome;
use crate::errors::{ErrorCounts, ErrorKind};
use crate::host::KernelDelta;
use crate::recorder::{new_histogram, Recorder};
use crate::report::add_counts;
use crate::report::checks::{Check, Finding};
use crate::report::flame::Flame;
use crate::report::histogram::Hist;
use crate::report::manifest::Manifest;
use crate::report::server_cpu::ServerCpu;
use crate::report::storm::{crashes, Sessions, StormSummary};
use crate::report::tls::{TlsHistograms, TlsSummary};
use crate::report::{
    skeleton, CutShort, DriverSummary, Histograms, IntervalRecord, LatencySummary, LoadSummary,
    OpenLoopSummary, Origin, Outcome, Report, Transfer, WarmupSummary,
};

/// Below this much load time a thread's busy share says nothing.
const MIN_WALL_FOR_BUSY: Duration = Duration::from_millis(100);
/// A driver thread this busy may have limited the result.
const BUSY_WARN_PCT: f64 = 95.0;

/// Everything a finished run hands to [`build`].
#[derive(Debug)]
pub struct RunRecord<'a> {
    /// Build, configuration and host.
    pub manifest: Manifest,
    /// The address loaded.
    pub target: SocketAddr,
    /// What each driver thread measured.
    pub outcomes: &'a [ThreadOutcome],
    /// Why the run stopped early, if it did.
    pub stop: StopReason,
    /// What the target's growth was when it stopped the run ([`StopReason::GrowthSlo`]).
    pub growth_stop: Option<CutShort>,
    /// The run's phases on the run clock (none if load never started).
    pub timeline: Option<Timeline>,
    /// The Unix time of the run clock's zero.
    pub epoch_unix_s: f64,
    /// The seconds of measurement, merged over the threads.
    pub intervals: Vec<IntervalRecord>,
    /// The embedded server's counters, when there was one.
    pub server: Option<BTreeMap<String, u64>>,
    /// Kernel TCP counters' change.
    pub kernel: KernelDelta,
    /// The server's CPU, when it could be measured.
    pub server_cpu: Option<ServerCpu>,
    /// The target's flame graph, when one was asked for (or why there is none).
    pub flame: Option<Flame>,
}

/// The threads' outcomes added up.
#[derive(Debug, Default)]
struct Totals {
    rec: Recorder,
    errors: ErrorCounts,
    driver: DriverSummary,
    last_completion_ns: u64,
    stopped_ns: u64,
    received_bytes: u64,
    sent_bytes: u64,
}

fn totals(outcomes: &[ThreadOutcome]) -> Totals {
    let mut t = Totals::default();
    for o in outcomes {
        t.rec.merge(&o.recorder);
        t.errors.add_all(&o.errors);
        let d = &mut t.driver;
        d.connections_opened += o.connections_opened;
        d.connections_lost += o.connections_lost;
        d.requests_sent += o.sent;
        d.capped_replies += o.capped;
        d.in_flight_at_stop += o.in_flight_at_stop;
        d.connect_s = d.connect_s.max(o.connect.as_secs_f64());
        for (errno, n) in &o.connect_failures {
            *d.connect_failures.entry(errno.clone()).or_default() += n;
        }
        add_counts(&mut d.reply_kinds, &o.reply_kinds);
        add_counts(&mut d.decode_failures, &o.decode_failures);
        d.reconnects += o.reconnects;
        d.thread_cpu_pct.push(pct(o.cpu, o.wall));
        let busy = if o.wall < MIN_WALL_FOR_BUSY {
            0.0
        } else {
            pct(o.cpu.saturating_sub(o.idle_spin), o.wall)
        };
        d.thread_busy_pct.push(busy);
        t.last_completion_ns = t.last_completion_ns.max(o.last_completion_ns);
        t.stopped_ns = t.stopped_ns.max(o.stopped_ns);
        t.received_bytes += o.received_bytes;
        t.sent_bytes += o.sent_bytes;
    }
    t.driver.threads = outcomes.len();
    t
}

/// The report of one run.
pub fn build(run: RunRecord<'_>) -> Report {
    let cfg = run.manifest.config.clone();
    let t = totals(run.outcomes);
    let (start_ns, measure_start_ns) = run
        .timeline
        .map_or((0, 0), |tl| (tl.start_ns, tl.measure_start_ns));
    let end_ns = measured_end(&run, &cfg, &t);
    let duration_s = end_ns.saturating_sub(measure_start_ns) as f64 / 1e9;
    let unix = |ns: u64| run.epoch_unix_s + ns as f64 / 1e9;
    let histograms = Histograms {
        uncorrected: Some(Hist(t.rec.uncorrected.clone())),
        warmup: Some(Hist(t.rec.warmup.clone())),
        // An open loop's schedule lag, or a storm's send lag: both are lateness against a due
        // time, and both merge exactly as histograms.
        schedule_lag: match cfg.load {
            Load::ClosedLoop(_) => None,
            Load::OpenLoop { .. } | Load::Storm(_) => Some(Hist(t.rec.lag.clone())),
        },
        ..Histograms::corrected_only(Hist(t.rec.measured.clone()))
    };
    let origin = Origin::Run {
        manifest: Box::new(run.manifest),
    };
    let mut r = skeleton(
        origin,
        histograms,
        duration_s,
        unix(measure_start_ns),
        run.intervals,
    );
    r.started_unix_s = unix(start_ns);
    r.errors = t.errors.total();
    r.errors_by_kind = t.errors;
    r.tls = tls_summary(run.outcomes, &cfg, run.server_cpu.as_ref());
    r.target =
        crate::report::tls::target_name(cfg.request.target_name(run.target), r.tls.is_some());
    r.embedded_server = cfg.embedded();
    r.transfer = Some(Transfer::over(t.received_bytes, t.sent_bytes, duration_s));
    r.by_request = crate::report::by_request::results(&cfg.request, &t.rec.lines, duration_s);
    second_by_second(&mut r, &cfg, &t.rec);
    r.load = match &cfg.load {
        Load::ClosedLoop(_) => LoadSummary::ClosedLoop,
        Load::OpenLoop { rate, arrivals, .. } => LoadSummary::OpenLoop(OpenLoopSummary {
            requested_rps: rate.mean_per_s(),
            achieved_rps: r.throughput_rps,
            arrival: arrivals.arrival,
            seed: arrivals.seed,
            schedule_lag_us: LatencySummary::from_histogram(&t.rec.lag),
        }),
        Load::Storm(st) => LoadSummary::Storm(Box::new(storm_summary(
            run.outcomes,
            &r.intervals,
            st,
            duration_s,
        ))),
    };
    r.warmup = Some(WarmupSummary {
        requests: t.rec.warmup.len(),
        duration_s: measure_start_ns.saturating_sub(start_ns) as f64 / 1e9,
        latency_us: LatencySummary::from_histogram(&t.rec.warmup),
    });
    r.driver = DriverSummary {
        connections: cfg.connections as u64,
        ..t.driver
    };
    r.server = run.server;
    r.kernel = Some(run.kernel);
    r.outcome = outcome(run.stop, run.growth_stop, &r, &cfg);
    r.warnings = self_checks(&r, &cfg);
    r.server_cpu = run.server_cpu;
    r.flame = run.flame;
    r.confidence = Some(crate::report::confidence::confidence(
        r.requests,
        &r.intervals,
    ));
    r.diagnosis = crate::report::diagnosis::diagnose(&r);
    r
}

/// The threads' handshakes added up, for a TLS run (one whose threads were given a TLS
/// client: `cfg.tls`, or a TLS URL).
fn tls_summary(
    outcomes: &[ThreadOutcome],
    cfg: &BenchConfig,
    server_cpu: Option<&ServerCpu>,
) -> Option<TlsSummary> {
    let mut h = Handshakes::default();
    for o in outcomes {
        h.merge(&o.handshakes);
    }
    let url_tls = match &cfg.target {
        crate::config::Target::Address(t) => crate::target::url::parse(t).is_ok_and(|u| u.tls),
        crate::config::Target::Embedded { .. } => false,
    };
    if !(url_tls || cfg.tls.is_some()) {
        return None;
    }
    let opts = cfg.tls.clone().unwrap_or_default();
    let n = h.tls_handshakes();
    let per = |ns: f64| (n > 0).then(|| ns / n as f64 / 1e3);
    // Handshakes are a storm's load; in bench they are set-up, outside the measured window.
    let storm = matches!(cfg.load, Load::Storm(_));
    let (version, cipher_suite) = h.negotiated.clone().unzip();
    let mut s = TlsSummary {
        insecure: opts.insecure(),
        resume: opts.resume,
        version,
        cipher_suite,
        handshakes: n,
        full: h.full,
        resumed: h.resumed,
        handshakes_per_s: h.rate_per_s(),
        handshake_us: None,
        tcp_connect_us: None,
        driver_cpu_per_handshake_us: per(h.tls_cpu_ns as f64),
        server_cpu_per_handshake_us: server_cpu
            .filter(|_| storm)
            .and_then(|c| per(c.cpu_s * 1e9)),
        first_failure: h.first_failure.clone(),
        histograms: TlsHistograms {
            handshake: Hist(h.tls_ns.clone()),
            tcp_connect: Hist(h.tcp_ns.clone()),
        },
    };
    s.summarize();
    Some(s)
}

/// The threads' storm figures added up over the `duration_s` the storm ran; crashes found in
/// the per-second record.
fn storm_summary(
    outcomes: &[ThreadOutcome],
    intervals: &[IntervalRecord],
    st: &Storm,
    duration_s: f64,
) -> StormSummary {
    let mut h = new_histogram();
    let mut lag = new_histogram();
    let (mut started, mut timeouts, mut lost) = (0, 0, 0);
    let (mut completed, mut unfinished_replies) = (0, 0);
    for o in outcomes {
        lost += o.connections_lost;
        lag.add(&o.recorder.lag).expect("histograms share bounds");
        if let Some(s) = &o.storm {
            started += s.started;
            timeouts += s.connect_timeouts;
            completed += s.sessions_completed;
            unfinished_replies += s.unfinished_replies;
            h.add(&s.connect_ns).expect("histograms share bounds");
        }
    }
    let connected = h.len();
    let sessions = st.session.map(|_| Sessions {
        completed,
        connects_per_s: if duration_s > 0.0 {
            started as f64 / duration_s
        } else {
            0.0
        },
        unfinished_replies,
    });
    StormSummary {
        started,
        connected,
        // A client whose session ended was closed by the driver: neither open nor lost.
        open_at_end: connected.saturating_sub(lost + completed),
        connect_timeouts: timeouts,
        connect_time_us: LatencySummary::from_histogram(&h),
        connect_time_histogram: Hist(h),
        send_lag_us: LatencySummary::from_histogram(&lag),
        crashes: crashes(intervals),
        driver_memory: None,
        server_memory: None,
        server_pids: Vec::new(),
        sessions,
        sockstat_before: None,
        sockstat_holding: None,
    }
}

/// Where the measured time ends: at the last measured reply (with none, when the threads
/// stopped). Load on a schedule (open loop, a storm) is measured over at least its window,
/// however early its last reply came: 2 replies due in a second are 2 req/s, not 2 per
/// millisecond. A run stopped early ends where it stopped.
fn measured_end(run: &RunRecord<'_>, cfg: &BenchConfig, t: &Totals) -> u64 {
    let last_ns = if t.rec.measured.is_empty() {
        t.stopped_ns
    } else {
        t.last_completion_ns
    };
    let window_end_ns = run
        .timeline
        .and_then(|tl| tl.end_ns)
        .map(|e| match run.stop {
            StopReason::None => e,
            _ => e.min(t.stopped_ns),
        });
    match (&cfg.load, window_end_ns) {
        (Load::OpenLoop { .. } | Load::Storm(_), Some(w)) => last_ns.max(w),
        _ => last_ns,
    }
}

/// How the run ended: completed only if it ran as planned and measured replies.
fn outcome(
    stop: StopReason,
    growth_stop: Option<CutShort>,
    r: &Report,
    cfg: &BenchConfig,
) -> Outcome {
    let d = &r.driver;
    let expected_more = match cfg.stop() {
        StopAt::Requests(n) => r.requests < n,
        StopAt::Duration(_) => true,
    };
    let why = match stop {
        StopReason::Interrupted => CutShort::Interrupted,
        StopReason::ErrorLimit => CutShort::ErrorLimit {
            errors: r.errors,
            max_errors: cfg.load.max_errors(),
        },
        StopReason::GrowthSlo => {
            growth_stop.expect("a growth stop is recorded before the stop is asked for")
        }
        StopReason::None if d.connections_opened == 0 => CutShort::NoConnections {
            tried: d.connections,
        },
        StopReason::None if d.connections_lost == d.connections_opened && expected_more => {
            CutShort::ConnectionsLost {
                lost: d.connections_lost,
            }
        }
        StopReason::None if r.requests == 0 => CutShort::NoReplies,
        StopReason::None => return Outcome::Completed,
    };
    Outcome::CutShort(why)
}

/// The checks that say when a result cannot be trusted as a measure of the target alone.
pub(crate) fn self_checks(r: &Report, cfg: &BenchConfig) -> Vec<Check> {
    let mut found = Vec::new();
    let d = &r.driver;
    if let LoadSummary::OpenLoop(o) = &r.load {
        if r.completed() && o.achieved_rps < 0.99 * o.requested_rps {
            found.push(Finding::RateNotAchieved {
                requested_rps: o.requested_rps,
                achieved_rps: o.achieved_rps,
            });
        }
        let unsent = r.errors_by_kind.get(ErrorKind::Unsent);
        if unsent > 0 {
            found.push(Finding::UnsentRequests {
                unsent,
                timeout_s: cfg.request_timeout.as_secs_f64(),
            });
        }
    }
    // Open-loop requests and a storm's messages have due times: sent late, the lateness is in
    // their latency.
    if let (Some(lag), Some(threshold)) = (r.load.lag_us(), cfg.load.lag_threshold()) {
        let threshold_us = threshold.as_secs_f64() * 1e6;
        if lag.p99 > threshold_us {
            found.push(Finding::ScheduleLag {
                p99_us: lag.p99,
                threshold_us,
            });
        }
    }
    for (thread, &busy_pct) in d.thread_busy_pct.iter().enumerate() {
        if busy_pct >= BUSY_WARN_PCT {
            found.push(Finding::DriverBusy { thread, busy_pct });
        }
    }
    let failed: u64 = d.connect_failures.values().sum();
    if failed > 0 {
        found.push(Finding::ConnectFailures {
            failed,
            asked: d.connections,
            by_errno: d.connect_failures.clone(),
        });
    }
    if d.connections_lost > 0 {
        found.push(Finding::ConnectionsLost {
            lost: d.connections_lost,
            opened: d.connections_opened,
        });
    }
    if let Some(count) = r.kernel.map(|k| k.listen_overflows).filter(|n| *n > 0) {
        found.push(Finding::ListenOverflows { count });
    }
    if d.capped_replies > 0 {
        let replies = r.requests + r.warmup.as_ref().map_or(0, |w| w.requests);
        found.push(Finding::CappedReplies {
            capped: d.capped_replies,
            replies,
            asked: cfg.request.describe(),
        });
    }
    found.into_iter().map(Check::from).collect()
}

/// `part` as a percentage of `whole`, one decimal, at most 100.
fn pct(part: Duration, whole: Duration) -> f64 {
    if whole.is_zero() {
        return 0.0;
    }
    // getrusage is charged in scheduler ticks, so a thread's CPU can read a little over its
    // wall time; the share is capped rather than shown above 100%.
    ((part.as_secs_f64() / whole.as_secs_f64() * 1000.0).round() / 10.0).min(100.0)
}

/// What the run's seconds say besides latency: the resources held (and their growth), and an
/// open loop's target for each second with, for stages, each stage's results.
fn second_by_second(r: &mut Report, cfg: &BenchConfig, rec: &Recorder) {
    let held: Vec<_> = r
        .intervals
        .iter()
        .filter_map(IntervalRecord::held_at)
        .collect();
    r.resources = crate::report::resources::summarize(&held);
    if let Load::OpenLoop { rate, bench, .. } = &cfg.load {
        let window_s = match bench.stop {
            StopAt::Duration(d) => Some(d.as_secs_f64()),
            StopAt::Requests(_) => None,
        };
        r.stages = crate::report::stages::targets(rate, window_s, &rec.stages, &mut r.intervals);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_share_is_never_above_100_percent() {
        let s = Duration::from_secs;
        assert_eq!(pct(s(1), s(2)), 50.0);
        // getrusage ticks can put CPU a little past wall time; the share stops at 100.
        assert_eq!(pct(Duration::from_millis(1_050), s(1)), 100.0);
        assert_eq!(pct(s(1), Duration::ZERO), 0.0);
        // A thread that loaded for a few milliseconds has no meaningful busy share.
        let brief = ThreadOutcome {
            cpu: Duration::from_millis(5),
            wall: Duration::from_millis(5),
            ..ThreadOutcome::default()
        };
        assert_eq!(totals(&[brief]).driver.thread_busy_pct, [0.0]);
    }
}
