//! The thread that started a run watches it: forwards an interrupt to the driver threads,
//! releases each second's merged histogram to the observer and the report's timeline, and sends
//! a heartbeat while there is nothing else to say.

use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::flame::{Now, Sampling};
use super::growth::Growing;
use super::Hooks;
use crate::clock::RunClock;
use crate::engine::control::{Control, StopReason};
use crate::engine::intervals::{Merger, ThreadMsg};
use crate::engine::ThreadOutcome;
use crate::observer::{Event, Phase};
use crate::report::IntervalRecord;

/// How often the loop wakes at most, to release seconds and forward an interrupt.
const TICK: Duration = Duration::from_millis(20);
/// How long without an interval before a heartbeat.
const HEARTBEAT: Duration = Duration::from_millis(1500);

/// Watches until every driver thread has finished; returns the merged seconds of measurement,
/// their histograms packed (a few hundred bytes each, where a histogram in memory is a couple
/// of hundred kilobytes).
pub(crate) fn watch(
    handles: &[JoinHandle<ThreadOutcome>],
    control: &Control,
    clock: RunClock,
    hooks: &mut Hooks<'_>,
    rx: &Receiver<ThreadMsg>,
    growing: &mut Growing,
    mut sampling: Option<&mut Sampling>,
) -> Vec<IntervalRecord> {
    let mut merger = Merger::new(handles.len());
    let mut records = Vec::new();
    // The first heartbeat goes out at once: a run (each step of a sweep) announces itself.
    let mut last_event = Instant::now()
        .checked_sub(HEARTBEAT)
        .unwrap_or_else(Instant::now);
    loop {
        let finished = handles.iter().all(JoinHandle::is_finished);
        let now = Now {
            now_ns: clock.now_ns(),
            timeline: control.timeline(),
            ended: finished || control.stopped(),
        };
        let wait = wait_for(sampling.as_deref_mut(), now, finished);
        while let Ok(msg) = rx.recv_timeout(wait) {
            merger.take(msg);
        }
        // A remote server's readings, as they arrive.
        growing.fill(&mut records);
        if hooks
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            control.request_stop(StopReason::Interrupted);
        }
        let timeline = control.timeline();
        let elapsed_s = timeline.map_or(0.0, |t| {
            clock.now_ns().saturating_sub(t.start_ns) as f64 / 1e9
        });
        while let Some(iv) = timeline.and_then(|t| merger.ready(t.measure_start_ns)) {
            let start_s = iv.offset_ns as f64 / 1e9;
            let duration_s = iv.duration_ns as f64 / 1e9;
            // What the server and the driver hold, read as each second is released. Once a
            // thread has finished its connections are closed: what is held then is the run
            // winding down, not the load.
            let held = if merger.any_done() {
                None
            } else {
                growing.read(records.len(), start_s + duration_s)
            };
            if let Some(o) = hooks.observer.as_deref_mut() {
                o.on_event(&Event::Interval {
                    interval: &iv,
                    elapsed_s,
                    errors: control.errors(),
                    held,
                });
            }
            records.push(IntervalRecord {
                received_bytes: iv.received_bytes,
                connections_opened: iv.opened,
                connections_lost: iv.lost,
                connections_closed: iv.closed,
                held,
                ..IntervalRecord::new(start_s, duration_s, &iv.hist, iv.errors)
            });
            growing.judge(control, hooks.observer.as_deref_mut(), elapsed_s);
            last_event = Instant::now();
        }
        if finished {
            growing.settle(&mut records);
            return records;
        }
        if last_event.elapsed() >= HEARTBEAT {
            let phase = match timeline {
                None => Phase::Connecting,
                Some(t) if clock.now_ns() < t.measure_start_ns => Phase::WarmingUp,
                Some(_) => Phase::Measuring,
            };
            if let Some(o) = hooks.observer.as_deref_mut() {
                o.on_event(&Event::Phase {
                    phase,
                    elapsed_s,
                    errors: control.errors(),
                });
            }
            last_event = Instant::now();
        }
    }
}

/// How long to wait for the threads' messages: not at all once they have finished, else until
/// the flame graph's window next opens or closes (to the millisecond), at most [`TICK`].
fn wait_for(sampling: Option<&mut Sampling>, now: Now, finished: bool) -> Duration {
    let edge = sampling.and_then(|s| s.tick(now));
    if finished {
        Duration::ZERO
    } else {
        edge.map_or(TICK, |e| e.clamp(Duration::from_millis(1), TICK))
    }
}
