//! What limited a run, each claim with its evidence: the server's CPU (its busiest thread, from
//! /proc, read by the driver or, for a nines-server elsewhere, sent in its Stats replies), the
//! driver (its own checks: a saturated thread, schedule lag), the accept queue
//! (ListenOverflows), retransmits, errors — or, when none of these, that no limit was reached
//! below the offered load (open loop) or what is known and not (closed loop).

use serde::{Deserialize, Serialize};

use super::flame::Flame;
use super::{Finding, LoadSummary, Report};
use nines_common::units::{rate_text, thousands};

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
}

/// One claim and its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    /// What.
    pub kind: LimitKind,
    /// The evidence, in words with the figures.
    pub evidence: String,
}

/// What limited `r`, and where the server's CPU went when its flame graph shows one place.
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
}
