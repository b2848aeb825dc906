//! What limited a run, each claim with its evidence: the server's CPU (its busiest thread, from
//! /proc, read by the driver or, for a nines-server elsewhere, sent in its Stats replies), the
//! driver (its own checks: a saturated thread, schedule lag), the accept queue
//! (ListenOverflows), retransmits, errors — or, when none of these, that no limit was reached
//! below the offered load (open loop) or what is known and not (closed loop). Beside whatever
//! limited it, a target whose memory or descriptors grew steadily under the load is named, with
//! what to do next.

use serde::{Deserialize, Serialize};

use super::flame::Flame;
use super::resources::{fd_rate_text, rss_rate_text, Leak};
use super::{Finding, LoadSummary, Report};
use nines_common::units::{bytes_text, rate_text, thousands};

/// A busiest server thread on CPU at least this share of the run is saturated.
const SATURATED_PCT: f64 = 90.0;

/// What limited a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// The server's CPU.
    ServerCpu,
    /// The driver, not the target.
    Driver,
    /// The server's accept queue overflowed.
    AcceptQueue,
    /// Segments were retransmitted.
    Retransmits,
    /// Requests failed.
    Errors,
    /// Connections failed to connect or were lost (a storm's schedule not held).
    Connections,
    /// Nothing: the offered (open-loop) load was served.
    NoneBelowOfferedLoad,
    /// Nothing measured explains the result.
    NotFound,
    /// Where the server's CPU went, from its flame graph: the place most of it was spent.
    Hotspot,
    /// Not a limit: the target's memory or descriptors grew steadily while it was loaded.
    ServerGrowth,
}

impl LimitKind {
    /// What the summary calls a claim of this kind.
    pub fn label(self) -> &'static str {
        match self {
            LimitKind::ServerGrowth => "growth",
            LimitKind::Hotspot => "hotspot",
            _ => "limited by",
        }
    }
}

/// One claim and its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    /// What.
    pub kind: LimitKind,
    /// The evidence, in words with the figures.
    pub evidence: String,
}

/// What limited `r`, where the server's CPU went when its flame graph shows one place, and
/// whether the target grew while it was loaded.
pub fn diagnose(r: &Report) -> Vec<Limit> {
    let mut out = limits(r);
    if let Some(Flame::Sampled(g)) = &r.flame {
        if let Some((pct, cause)) = g.cause() {
            out.push(Limit {
                kind: LimitKind::Hotspot,
                evidence: format!(
                    "{pct:.0}% of the server's sampled CPU went to {}: {}",
                    cause.what, cause.advice
                ),
            });
        }
    }
    growth(r, &mut out);
    out
}

/// What limited `r`.
fn limits(r: &Report) -> Vec<Limit> {
    let mut out = Vec::new();
    let say = |out: &mut Vec<Limit>, kind, evidence: String| out.push(Limit { kind, evidence });
    if let Some(c) = &r.server_cpu {
        if c.busiest_thread_pct >= SATURATED_PCT {
            say(
                &mut out,
                LimitKind::ServerCpu,
                format!(
                    "the server's busiest thread ({}) was on CPU {:.0}% of the run (all its threads: {:.0}% of one core)",
                    c.busiest_thread, c.busiest_thread_pct, c.total_pct
                ),
            );
        }
    }
    for w in &r.warnings {
        if matches!(
            w.finding,
            Finding::DriverBusy { .. } | Finding::ScheduleLag { .. }
        ) {
            say(&mut out, LimitKind::Driver, w.message.clone());
        }
    }
    kernel_limits(r, &mut out);
    if r.errors > 0 {
        let kinds = r.errors_by_kind.describe();
        say(
            &mut out,
            LimitKind::Errors,
            format!("{} errors ({kinds})", thousands(r.errors)),
        );
    }
    // A storm that lost connections says so beside whatever else explains it.
    let storm = match &r.load {
        LoadSummary::Storm(st) => Some((storm_kind(r, st), storm_text(r, st))),
        _ => None,
    };
    if let Some((LimitKind::Connections, text)) = &storm {
        say(&mut out, LimitKind::Connections, text.clone());
    }
    if !out.is_empty() {
        return out;
    }
    if let Some((kind, text)) = storm {
        say(&mut out, kind, text);
        return out;
    }
    match &r.load {
        LoadSummary::OpenLoop(o) if o.achieved_rps >= 0.95 * o.requested_rps => say(
            &mut out,
            LimitKind::NoneBelowOfferedLoad,
            format!(
                "no limit reached below the offered load: {} req/s achieved of {} requested, the driver on time{}",
                rate_text(o.achieved_rps),
                rate_text(o.requested_rps),
                server_cpu_text(r)
            ),
        ),
        LoadSummary::OpenLoop(o) => say(
            &mut out,
            LimitKind::NotFound,
            format!(
                "no limit found among those measured: {} req/s achieved of {} offered{}, the driver on time, no errors, no accept-queue overflow{}; the target (or the path to it) served less than was offered",
                rate_text(o.achieved_rps),
                rate_text(o.requested_rps),
                worst_stage_text(r),
                server_cpu_text(r)
            ),
        ),
        _ => say(
            &mut out,
            LimitKind::NotFound,
            format!(
                "no limit found among those measured: the driver was not saturated, no errors, no accept-queue overflow{}; a closed loop's throughput is its connections over their latency",
                server_cpu_text(r)
            ),
        ),
    }
    out
}

/// The target's steady growth while it was loaded ([`Growth::leaks`](super::resources::Growth::leaks)), each with a next step.
fn growth(r: &Report, out: &mut Vec<Limit>) {
    let Some(g) = r.resources.and_then(|res| res.server) else {
        return;
    };
    let load = match &r.load {
        LoadSummary::Storm(_) => "while the storm held its connections",
        _ if !r.stages.is_empty() => "while the load went through its stages",
        _ => "while the load was steady",
    };
    // `/proc/PID/fd` names the process when there is one; a server of several, each of them.
    let pid = match r.server_cpu.as_ref().map(|c| c.pids.as_slice()) {
        Some([one]) => one.to_string(),
        _ => "PID".to_string(),
    };
    for (leak, t) in g.leaks() {
        let r2 = t.r2.unwrap_or(0.0);
        let evidence = match leak {
            Leak::Memory => format!(
                "the server's RSS grew {} (r² {r2:.2}, {} → {}) {load}: a leak? Run it longer (-d 10m) to see whether it levels off, as a cache or a pool filling up would; if it keeps growing, profile the server's heap under the same load (heaptrack -p {pid}, or valgrind --tool=massif)",
                rss_rate_text(t.per_s).trim_start_matches('+'),
                bytes_text(t.first as f64),
                bytes_text(t.last as f64),
            ),
            Leak::Descriptors => format!(
                "the server's open descriptors grew {} (r² {r2:.2}, {} → {}) {load}: a descriptor leak? List what it holds (ls -l /proc/{pid}/fd, or lsof -p {pid}): sockets kept after their peers closed, or a file opened per request and never closed",
                fd_rate_text(t.per_s).trim_start_matches('+'),
                t.first,
                t.last,
            ),
        };
        out.push(Limit {
            kind: LimitKind::ServerGrowth,
            evidence,
        });
    }
}

/// A staged run's stage that got the smallest share of what it asked for, when that share is
/// under 95%: ` (stage 3, 1,000 → 5,000/s, got 61% of its requests)`.
fn worst_stage_text(r: &Report) -> String {
    let share = |s: &super::stages::StageResult| s.requests as f64 / s.target_requests;
    r.stages
        .iter()
        .filter(|s| s.target_requests >= 1.0)
        .min_by(|a, b| share(a).total_cmp(&share(b)))
        .filter(|s| share(s) < 0.95)
        .map_or(String::new(), |s| {
            format!(
                " (stage {}, {}, got {:.0}% of its requests)",
                s.stage,
                s.span().rates_text(),
                100.0 * share(s)
            )
        })
}

/// A storm's load is its schedule: every connection held and (nearly) every message echoed is
/// the offered load served. With sessions, held means none failed to connect and none was lost
/// (clients closed by the driver were replaced; a replacement may still be connecting at the end).
fn storm_kind(r: &Report, st: &super::storm::StormSummary) -> LimitKind {
    let held = match st.sessions {
        None => st.open_at_end >= st.started,
        Some(_) => {
            r.driver.connections_lost == 0 && r.driver.connect_failures.values().sum::<u64>() == 0
        }
    };
    let echoed = r.requests as f64 >= 0.99 * r.driver.requests_sent as f64;
    match (held, echoed) {
        (false, _) => LimitKind::Connections,
        (true, true) => LimitKind::NoneBelowOfferedLoad,
        (true, false) => LimitKind::NotFound,
    }
}

fn storm_text(r: &Report, st: &super::storm::StormSummary) -> String {
    let lag = st
        .send_lag_us
        .map(|l| format!(", the driver's send lag p99 {:.0} µs", l.p99))
        .unwrap_or_default();
    let held = match st.sessions {
        None => format!(
            "{} of {} connections held to the end",
            thousands(st.open_at_end),
            thousands(st.started)
        ),
        Some(s) => format!(
            "{} sessions completed and replaced, {} of {} connects failed, {} connections lost, {} open at the end",
            thousands(s.completed),
            thousands(r.driver.connect_failures.values().sum::<u64>()),
            thousands(st.started),
            thousands(r.driver.connections_lost),
            thousands(st.open_at_end)
        ),
    };
    let what = format!(
        "{held}, {} of {} messages echoed{lag}{}",
        thousands(r.requests),
        thousands(r.driver.requests_sent),
        server_cpu_text(r)
    );
    match storm_kind(r, st) {
        LimitKind::NoneBelowOfferedLoad => {
            format!("no limit reached below the offered load: {what}")
        }
        LimitKind::Connections => {
            let crashes: Vec<String> = st
                .crashes
                .iter()
                .map(|c| format!("{} at {:.0} s", thousands(c.lost), c.at_s))
                .collect();
            let crashes = if crashes.is_empty() {
                String::new()
            } else {
                format!("; lost at once: {}", crashes.join(", "))
            };
            format!(
                "connections: {} never connected and {} were lost{crashes} ({what})",
                thousands(st.started.saturating_sub(st.connected)),
                thousands(r.driver.connections_lost),
            )
        }
        _ => format!(
            "the storm fell short with nothing measured to explain it (no errors, saturation or overflow): {what}"
        ),
    }
}

/// The kernel's counters: accept-queue overflows and retransmits.
fn kernel_limits(r: &Report, out: &mut Vec<Limit>) {
    let say = |out: &mut Vec<Limit>, kind, evidence: String| out.push(Limit { kind, evidence });
    if let Some(k) = &r.kernel {
        if k.listen_overflows > 0 {
            say(
                out,
                LimitKind::AcceptQueue,
                format!(
                    "ListenOverflows rose by {} (accept queue full: raise --backlog and net.core.somaxconn, or accept faster)",
                    thousands(k.listen_overflows)
                ),
            );
        }
        let floor = (r.requests / 1000).max(10);
        if k.retrans_segs > floor {
            say(
                out,
                LimitKind::Retransmits,
                format!(
                    "{} TCP segments were retransmitted during the run (more than 0.1% of the requests)",
                    thousands(k.retrans_segs)
                ),
            );
        }
    }
}

fn server_cpu_text(r: &Report) -> String {
    match &r.server_cpu {
        Some(c) => format!(
            ", the server's busiest thread at {:.0}% CPU",
            c.busiest_thread_pct
        ),
        None => ", the server's CPU not measured (not on this machine)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Stages;
    use crate::recorder::new_histogram;
    use crate::report::histogram::Hist;
    use crate::report::{skeleton, Histograms, Origin};

    #[test]
    fn an_open_loop_served_short_says_so_and_names_its_worst_stage() {
        let mut h = new_histogram();
        h.record_n(1_000, 300).unwrap();
        let mut r = skeleton(
            Origin::IntervalLog { file: "x".into() },
            Histograms::corrected_only(Hist(h.clone())),
            3.0,
            0.0,
            Vec::new(),
        );
        let spans: Vec<_> = Stages::parse("1s:100,2s:300").unwrap().spans().collect();
        let mut half = new_histogram();
        half.record_n(1_000, 250).unwrap();
        r.stages = super::super::stages::results(&spans, vec![h.clone(), half], &[]);
        r.load = LoadSummary::OpenLoop(super::super::sections::OpenLoopSummary {
            requested_rps: 200.0,
            achieved_rps: 100.0,
            arrival: crate::schedule::Arrival::Constant,
            seed: 1,
            schedule_lag_us: None,
        });
        let said = &diagnose(&r)[0];
        assert_eq!(said.kind, LimitKind::NotFound);
        assert!(
            said.evidence.contains(
                "100 req/s achieved of 200 offered (stage 2, 100 → 300/s, got 62% of its requests)"
            ) && said.evidence.contains("served less than was offered")
                && !said.evidence.contains("closed loop"),
            "{}",
            said.evidence
        );
    }

    /// A target growing steadily is named after what limited the run, with its figures and a
    /// next step; a flat one is not.
    #[test]
    fn a_server_growing_steadily_is_named_beside_what_limited_the_run_with_a_next_step() {
        use super::super::resources::{Growth, ResourceSummary, Trend};
        let mut h = new_histogram();
        h.record_n(1_000, 100).unwrap();
        let mut r = skeleton(
            Origin::IntervalLog { file: "x".into() },
            Histograms::corrected_only(Hist(h)),
            10.0,
            0.0,
            Vec::new(),
        );
        let flat = Trend {
            first: 4,
            last: 4,
            per_s: 0.0,
            r2: None,
        };
        let rising = |first: u64, last: u64, per_s: f64| Trend {
            first,
            last,
            per_s,
            r2: Some(0.99),
        };
        let growth = |rss_bytes, fds| Growth {
            rss_bytes,
            fds,
            threads: flat,
            sockets: flat,
        };
        let quiet = growth(flat, flat);
        let found = |r: &Report| -> Vec<String> {
            diagnose(r)
                .into_iter()
                .filter(|l| l.kind == LimitKind::ServerGrowth)
                .map(|l| l.evidence)
                .collect()
        };
        r.resources = Some(ResourceSummary {
            server: Some(quiet),
            driver: quiet,
        });
        assert!(found(&r).is_empty(), "a flat server grew nothing");
        // 2 MiB a second, steadily; and descriptors from 10 to 40.
        r.resources = Some(ResourceSummary {
            server: Some(growth(
                rising(1 << 20, 21 << 20, 2.0 * 1_048_576.0),
                rising(10, 40, 3.0),
            )),
            driver: quiet,
        });
        let said = found(&r);
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said[0].starts_with("the server's RSS grew 120.0 MiB/min (r² 0.99, 1.0 MiB → 21.0 MiB) while the load was steady: a leak?")
                && said[0].contains("heaptrack"),
            "{}",
            said[0]
        );
        assert!(
            said[1].starts_with("the server's open descriptors grew 180/min (r² 0.99, 10 → 40)")
                && said[1].contains("/proc/PID/fd"),
            "{}",
            said[1]
        );
        // What limited the run is still said first; the growth comes beside it.
        assert_ne!(diagnose(&r)[0].kind, LimitKind::ServerGrowth);
    }
}
