//! The knee: the highest load at which latency still holds. Over the open-loop steps when there
//! are any (their latency is free of coordinated omission), else over the closed-loop steps; in
//! order of the load asked for (rate, or connections), a step holds when it completed, its
//! errors stay within 0.1% of its requests, an open-loop step achieved 95% of its rate, and its
//! p99 is under the bound: the
//! `--slo-p99` given, else `knee_multiple` times the lowest-load step's p99. The knee is the
//! last step that holds before the first that does not.

use serde::{Deserialize, Serialize};

use super::{Step, StepLoad};
use crate::report::{LoadSummary, Outcome};

/// Errors a step may have and still hold, as a share of its requests.
const MAX_ERROR_SHARE: f64 = 0.001;
/// Share of its rate an open-loop step must achieve to hold.
const MIN_ACHIEVED_SHARE: f64 = 0.95;

/// Where latency broke.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    /// Index into the steps of the knee (none when not even the lowest load held).
    pub step: Option<usize>,
    /// The p99 bound used, µs.
    pub p99_bound_us: Option<f64>,
    /// Why, in a sentence.
    pub why: String,
}

/// Finds the knee of `steps`.
pub fn find_knee(steps: &[Step], slo: Option<std::time::Duration>, multiple: f64) -> Knee {
    let open: Vec<usize> = (0..steps.len())
        .filter(|&i| matches!(steps[i].load, StepLoad::OpenLoop { .. }))
        .collect();
    let mut group = if open.is_empty() {
        (0..steps.len()).collect()
    } else {
        open
    };
    group.sort_by(|&a, &b| steps[a].level_order().total_cmp(&steps[b].level_order()));
    let Some(&lowest) = group.first() else {
        return Knee {
            why: "no step ran".to_string(),
            ..Knee::default()
        };
    };
    let (bound_us, bound_text) = match slo {
        Some(d) => {
            let us = d.as_secs_f64() * 1e6;
            (Some(us), format!("--slo-p99 {}", fmt_us(us)))
        }
        None => match steps[lowest].report.latency_us {
            Some(l) => (
                Some(l.p99 * multiple),
                format!(
                    "{multiple}x the lowest load's p99 ({} x {multiple} = {})",
                    fmt_us(l.p99),
                    fmt_us(l.p99 * multiple)
                ),
            ),
            None => (None, "the lowest load measured no replies".to_string()),
        },
    };
    let Some(bound) = bound_us else {
        return Knee {
            why: format!("no knee: {bound_text}"),
            ..Knee::default()
        };
    };
    let mut knee = None;
    for &i in &group {
        match breaks(&steps[i], bound) {
            None => knee = Some(i),
            Some(reason) => {
                let why = match knee {
                    Some(k) => format!(
                        "knee at {}: p99 {} within {bound_text}; the next load, {}, {reason}",
                        steps[k].label,
                        fmt_us(p99(&steps[k])),
                        steps[i].label
                    ),
                    None => format!(
                        "no knee: already the lowest load, {}, {reason} ({bound_text})",
                        steps[i].label
                    ),
                };
                return Knee {
                    step: knee,
                    p99_bound_us: Some(bound),
                    why,
                };
            }
        }
    }
    let k = *group.last().expect("not empty");
    Knee {
        step: Some(k),
        p99_bound_us: Some(bound),
        why: format!(
            "no break found: the highest load, {}, held (p99 {} within {bound_text}); sweep higher to find the knee",
            steps[k].label,
            fmt_us(p99(&steps[k]))
        ),
    }
}

/// Why a step does not hold, if it does not.
fn breaks(step: &Step, bound_us: f64) -> Option<String> {
    let r = &step.report;
    if let Outcome::CutShort(why) = &r.outcome {
        return Some(format!("was cut short ({why})"));
    }
    let total = r.requests + r.errors;
    if r.errors as f64 > MAX_ERROR_SHARE * total.max(1) as f64 {
        return Some(format!("had {} errors in {} requests", r.errors, total));
    }
    if let LoadSummary::OpenLoop(o) = &r.load {
        let rate = o.requested_rps;
        if o.achieved_rps < MIN_ACHIEVED_SHARE * rate {
            return Some(format!(
                "achieved only {:.0}% of its rate",
                100.0 * o.achieved_rps / rate
            ));
        }
    }
    let p = p99(step);
    (p > bound_us).then(|| format!("had p99 {}", fmt_us(p)))
}

fn p99(step: &Step) -> f64 {
    step.report.latency_us.map_or(f64::INFINITY, |l| l.p99)
}

/// `812 µs`, `4.2 ms`.
pub(crate) fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}
