//! The target sampled for a flame graph over exactly the measured window: perf is attached
//! before the load starts (its events off), switched on when measurement begins and off when
//! it ends, so warm-up and drain are not in the graph.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::server_cpu::Meter;
use crate::config::FlameSpec;
use crate::engine::control::Timeline;
use crate::host::perf::{Recording, Sampled, Unavailable};
use crate::report::flame::{Flame, FlameGraph};

/// perf attached to what `meter` found of the server, when `spec` asks for a flame graph, before
/// the load starts so the whole measured window can be sampled; and the meter started again
/// after, so the wait for perf is not in the server's CPU share.
pub(crate) fn attach(
    spec: Option<FlameSpec>,
    meter: Option<Meter>,
) -> (Option<Sampling>, Option<Meter>) {
    let Some(spec) = spec else {
        return (None, meter);
    };
    let sampling = Sampling::start(spec, meter.as_ref().and_then(Meter::sampled));
    (Some(sampling), meter.map(Meter::restarted))
}

/// Whether `interrupt` is raised after now: a second interrupt while the samples are read back
/// gives up the flame graph, not the run (the first one ended the run and is not counted).
pub(crate) fn interrupted_from_now(interrupt: Option<Arc<AtomicBool>>) -> impl Fn() -> bool {
    let raised = move || {
        interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    };
    let before = raised();
    move || !before && raised()
}

/// Where the sampling is.
#[derive(Debug)]
pub(crate) enum Sampling {
    /// perf attached, not yet switched on.
    Ready(Recording),
    /// Sampling the measured window.
    On(Recording),
    /// The window is over.
    Done(Recording),
    /// No samples can be had, and why.
    Unavailable(String),
}

/// What the watch loop tells the sampling each time it wakes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now {
    /// The run clock.
    pub now_ns: u64,
    /// The run's timeline, once fixed.
    pub timeline: Option<Timeline>,
    /// The measurement is over before its planned end: every thread has finished (a request
    /// count reached), or the run was told to stop (an error limit, an interrupt).
    pub ended: bool,
}

impl Sampling {
    /// Attaches perf to `what` (None: the target is not on this machine).
    pub(crate) fn start(spec: FlameSpec, what: Option<Sampled>) -> Sampling {
        let Some(what) = what else {
            return Sampling::Unavailable(
                "the target is not on this machine, and nines samples only processes it can see: run `perf record -g -p PID` where the server runs".into(),
            );
        };
        match Recording::start(&what, spec.hz, spec.unwind) {
            Ok(r) => Sampling::Ready(r),
            Err(Unavailable(why)) => Sampling::Unavailable(why),
        }
    }

    /// Switches sampling on or off as the window opens and closes; returns how long until it
    /// next needs to be told (so the caller wakes on time), if it does.
    pub(crate) fn tick(&mut self, t: Now) -> Option<Duration> {
        let tl = t.timeline?;
        let end_ns = tl.end_ns.unwrap_or(u64::MAX);
        let closed = t.ended || t.now_ns >= end_ns;
        let state = std::mem::replace(self, Sampling::Unavailable(String::new()));
        *self = match state {
            Sampling::Ready(mut r) if t.now_ns >= tl.measure_start_ns && !closed => {
                match r.enable() {
                    Ok(()) => Sampling::On(r),
                    Err(Unavailable(why)) => Sampling::Unavailable(why),
                }
            }
            Sampling::Ready(r) if closed => Sampling::Done(r),
            Sampling::On(mut r) if closed => {
                r.disable();
                Sampling::Done(r)
            }
            other => other,
        };
        let next_ns = match self {
            Sampling::Ready(_) => tl.measure_start_ns,
            Sampling::On(_) => end_ns,
            Sampling::Done(_) | Sampling::Unavailable(_) => return None,
        };
        Some(Duration::from_nanos(next_ns.saturating_sub(t.now_ns)))
    }

    /// The flame graph of what was sampled, or why there is none; reading the samples back is
    /// given up when `give_up` says so (an interrupt): the run is kept either way.
    pub(crate) fn finish(self, give_up: &dyn Fn() -> bool) -> Flame {
        let r = match self {
            Sampling::Ready(r) | Sampling::On(r) | Sampling::Done(r) => r,
            Sampling::Unavailable(reason) => return Flame::Unavailable { reason },
        };
        let (unwind, hz, kernel) = (r.unwind, r.hz, r.kernel);
        let mut r = r;
        r.disable();
        let seconds = r.seconds;
        if seconds == 0.0 {
            return Flame::Unavailable {
                reason: "the run ended before its measured window opened: nothing was sampled"
                    .into(),
            };
        }
        match r.finish(give_up) {
            Ok(folded) if folded.is_empty() => Flame::Unavailable {
                reason: "perf took no samples of the target: was it idle, or did it exit?".into(),
            },
            Ok(folded) => Flame::Sampled(Box::new(FlameGraph::new(
                folded, unwind, hz, seconds, kernel,
            ))),
            Err(Unavailable(reason)) => Flame::Unavailable { reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_elsewhere_is_one_line_with_the_remedy() {
        let Flame::Unavailable { reason } =
            Sampling::start(FlameSpec::default(), None).finish(&|| false)
        else {
            panic!("a target this machine cannot see was sampled");
        };
        assert!(reason.contains("not on this machine") && reason.contains("perf record"));
        assert!(!reason.contains('\n'));
    }
}
