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
            Some(start_embedded(cfg.base.request.first(), server_workers)?)
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
        let Some(report) = step(&mut steps, |s| s.closed_step(c), hooks, &mut sweep)? else {
            break;
        };
        sweep.target.clone_from(&report.target);
        let step = Step {
            label: format!("{c} connection{}", if c == 1 { "" } else { "s" }),
            load: StepLoad::ClosedLoop,
            report,
        };
        on_step(&step);
        sweep.steps.push(step);
    }
    // A Ctrl-C during the last step ends that step: the sweep is cut short there too.
    if interrupted(hooks) && sweep.cut_short.is_none() {
        sweep.cut_short = Some("interrupted".to_string());
    }
    if !cfg.rates.is_empty() && sweep.cut_short.is_none() {
        run_rates(&mut steps, hooks, on_step, &mut sweep)?;
    }
    if interrupted(hooks) && sweep.cut_short.is_none() {
        sweep.cut_short = Some("interrupted".to_string());
    }
    sweep.knee = find_knee(&sweep.steps, cfg.slo_p99, cfg.knee_multiple);
    drop(embedded);
    Ok(sweep)
}

/// The peak probe (when a level is a share of it), then one open-loop step per rate level.
fn run_rates(
    cfg: &mut SweepConfig,
    hooks: &mut Hooks<'_>,
    on_step: &mut dyn FnMut(&Step),
    sweep: &mut Sweep,
) -> Result<(), RunError> {
    if cfg.rates.iter().any(|r| matches!(r, RateLevel::OfPeak(_))) {
        let Some(r) = step(cfg, SweepConfig::peak_probe, hooks, sweep)? else {
            return Ok(());
        };
        // A probe cut short (Ctrl-C, errors) measured no peak the rates could be shares of.
        if let Outcome::CutShort(why) = &r.outcome {
            sweep.cut_short = Some(format!(
                "the peak probe was cut short ({why}); no rate step can be placed"
            ));
            return Ok(());
        }
        sweep.peak = Some(Peak {
            throughput_rps: r.throughput_rps,
            connections: cfg.open_loop_connections(),
        });
    }
    let peak = sweep.peak.as_ref().map(|p| p.throughput_rps);
    for level in cfg.rates.clone() {
        if interrupted(hooks) {
            sweep.cut_short = Some("interrupted".to_string());
            break;
        }
        let rate = level.rate(peak).max(1.0);
        let Some(report) = step(cfg, |s| s.open_step(rate), hooks, sweep)? else {
            break;
        };
        let label = match level {
            RateLevel::OfPeak(_) => format!(
                "{level} = {} req/s",
                nines_common::units::thousands(rate.round() as u64)
            ),
            RateLevel::Absolute(_) => level.to_string(),
        };
        let step = Step {
            label,
            load: StepLoad::OpenLoop { level },
            report,
        };
        on_step(&step);
        sweep.steps.push(step);
    }
    Ok(())
}

/// Runs one step (`make` builds it from the sweep's settings). A `--start-at` belongs to the
/// first step only: the later ones start when the one before ends. A step that cannot start once
/// others have run ends the sweep, cut short, with the steps it has (`None`); the first one's
/// error is the sweep's.
fn step(
    cfg: &mut SweepConfig,
    make: impl FnOnce(&SweepConfig) -> crate::config::BenchConfig,
    hooks: &mut Hooks<'_>,
    sweep: &mut Sweep,
) -> Result<Option<crate::report::Report>, RunError> {
    let run_cfg = make(cfg);
    cfg.base.start_at_unix_s = None;
    match run(&run_cfg, hooks) {
        Ok(r) => Ok(Some(r)),
        Err(e) if !sweep.steps.is_empty() || sweep.peak.is_some() => {
            sweep.cut_short = Some(format!("a step could not run: {e}"));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn interrupted(hooks: &Hooks<'_>) -> bool {
    hooks
        .interrupt
        .as_ref()
        .is_some_and(|i| i.load(std::sync::atomic::Ordering::Relaxed))
}
