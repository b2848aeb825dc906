//! `nines sweep`: where latency breaks as load grows (seed 002's method). One closed-loop step
//! per connection level; then, for rate levels, a short closed-loop run finds the peak and one
//! open-loop step runs at each fraction of it (or at an absolute rate). Every step is a whole
//! run through the same code as `nines bench`; the result is one [`Sweep`] value with the knee.
//!
//! `nines node`'s bench_sweep runs through [`run_sweep`] too.

use crate::config::{RateLevel, SweepConfig, Target};
use crate::report::sweep::{find_knee, Knee, Peak, Step, StepLoad, Sweep, FORMAT};
use crate::report::Outcome;
use crate::run::{run, start_embedded, Hooks, RunError};

/// Runs every step; `on_step` sees each as it finishes (the live table). The embedded server,
/// when there is no target, is started once for the whole sweep.
pub fn run_sweep(
    cfg: &SweepConfig,
    hooks: &mut Hooks<'_>,
    on_step: &mut dyn FnMut(&Step),
) -> Result<Sweep, RunError> {
    let usage = cfg.validate_with(&crate::run::limits());
    if !usage.is_empty() {
        return Err(RunError::Usage(usage));
    }
    let embedded = match cfg.base.target {
        Target::Embedded { server_workers } => {
            Some(start_embedded(&cfg.base.request, server_workers)?)
        }
        Target::Address(_) => None,
    };
    let mut steps = cfg.clone();
    if let Some(s) = &embedded {
        steps.base.target = Target::Address(s.local_addr().to_string());
    }
    let mut sweep = Sweep {
        format: FORMAT.to_string(),
        config: cfg.clone(),
        target: match &steps.base.target {
            Target::Address(t) => t.clone(),
            Target::Embedded { .. } => String::new(),
        },
        peak: None,
        steps: Vec::new(),
        knee: Knee::default(),
        cut_short: None,
    };
    for &c in &cfg.connections {
        if interrupted(hooks) {
            sweep.cut_short = Some("interrupted".to_string());
            break;
        }
        let report = run(&steps.closed_step(c), hooks)?;
        sweep.target.clone_from(&report.target);
        let step = Step {
            label: format!("{c} connection{}", if c == 1 { "" } else { "s" }),
            connections: c,
            load: StepLoad::ClosedLoop,
            report,
        };
        on_step(&step);
        sweep.steps.push(step);
    }
    if !cfg.rates.is_empty() && sweep.cut_short.is_none() {
        run_rates(&steps, hooks, on_step, &mut sweep)?;
    }
    sweep.knee = find_knee(&sweep.steps, cfg.slo_p99, cfg.knee_multiple);
    drop(embedded);
    Ok(sweep)
}

/// The peak probe (when a level is a share of it), then one open-loop step per rate level.
fn run_rates(
    cfg: &SweepConfig,
    hooks: &mut Hooks<'_>,
    on_step: &mut dyn FnMut(&Step),
    sweep: &mut Sweep,
) -> Result<(), RunError> {
    if cfg.rates.iter().any(|r| matches!(r, RateLevel::OfPeak(_))) {
        let r = run(&cfg.peak_probe(), hooks)?;
        if r.throughput_rps <= 0.0 {
            sweep.cut_short = Some(format!(
                "the peak probe measured no replies ({}); no rate step can be placed",
                match &r.outcome {
                    Outcome::CutShort(why) => why.to_string(),
                    Outcome::Completed => "no replies".to_string(),
                }
            ));
            return Ok(());
        }
        sweep.peak = Some(Peak {
            throughput_rps: r.throughput_rps,
            connections: cfg.open_loop_connections(),
        });
    }
    let peak = sweep.peak.as_ref().map(|p| p.throughput_rps);
    for &level in &cfg.rates {
        if interrupted(hooks) {
            sweep.cut_short = Some("interrupted".to_string());
            break;
        }
        let rate = level.rate(peak).max(1.0);
        let report = run(&cfg.open_step(rate), hooks)?;
        let label = match level {
            RateLevel::OfPeak(_) => format!(
                "{level} = {} req/s",
                nines_common::units::thousands(rate.round() as u64)
            ),
            RateLevel::Absolute(_) => level.to_string(),
        };
        let step = Step {
            label,
            connections: cfg.open_loop_connections(),
            load: StepLoad::OpenLoop {
                level,
                rate_per_s: rate,
            },
            report,
        };
        on_step(&step);
        sweep.steps.push(step);
    }
    Ok(())
}

fn interrupted(hooks: &Hooks<'_>) -> bool {
    hooks
        .interrupt
        .as_ref()
        .is_some_and(|i| i.load(std::sync::atomic::Ordering::Relaxed))
}
