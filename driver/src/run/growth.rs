//! The target's growth while a run goes. What the target and the driver hold is read as each
//! second of measurement is released; every ten seconds the growth fitted so far goes to the
//! observer, so a long run shows a leak as it goes and not only at its end; and a clause of
//! `--slo` on the target's growth stops the run once it is passed for certain — past its limit
//! steadily, over enough seconds that noise never stops a run — keeping what was measured.

use super::held::ServerHeld;
use crate::engine::control::{Control, StopReason};
use crate::host;
use crate::observer::{Event, Observer};
use crate::report::resources::{summarize, Held, Leak, ResourceSummary};
use crate::report::slo::{Clause, Cmp, Metric};
use crate::report::{CutShort, IntervalRecord};

/// Seconds of measurement between two [`Event::Growth`]s.
const EVENT_EVERY_S: f64 = 10.0;
/// Fewest readings a growth clause is judged on while the run goes.
pub const MIN_READINGS: usize = 10;
/// r² from which a growth past its limit is certain: a line explains nearly all of it.
pub const CERTAIN_R2: f64 = 0.9;

/// What the target and the driver held so far in a run, and whether that stopped it.
#[derive(Debug)]
pub(crate) struct Growing {
    /// Where the target's readings come from: its processes on this machine, or a remote
    /// nines-server's Stats replies.
    server: ServerHeld,
    /// The clauses the run stops on ([`can_stop`]).
    clauses: Vec<Clause>,
    /// (seconds into the measurement, what was held then).
    readings: Vec<(f64, Held)>,
    /// Readings already judged.
    judged: usize,
    next_event_s: f64,
    stop: Option<CutShort>,
}

impl Growing {
    /// Reads `server` (and the driver) for a run that stops on the growth clauses among
    /// `stop_on`.
    pub(crate) fn new(server: ServerHeld, stop_on: &[Clause]) -> Growing {
        Growing {
            server,
            clauses: stop_on.iter().filter(|c| can_stop(c)).cloned().collect(),
            readings: Vec::new(),
            judged: 0,
            next_event_s: EVENT_EVERY_S,
            stop: None,
        }
    }

    /// What the target and the driver hold now, for the `index`th second, `at_s` seconds into
    /// the measurement, kept for the fit; none when the driver's own /proc cannot be read. A
    /// remote server's reading comes later, through [`Growing::fill`].
    pub(crate) fn read(&mut self, index: usize, at_s: f64) -> Option<Held> {
        let held = Held {
            server: self.server.read(index),
            driver: host::usage(&[std::process::id()], false)?,
        };
        self.readings.push((at_s, held));
        Some(held)
    }

    /// Puts a remote server's readings that have arrived into their seconds of `records`, and
    /// into the readings fitted.
    pub(crate) fn fill(&mut self, records: &mut [IntervalRecord]) {
        if self.server.fill(records) {
            self.refit(records);
        }
    }

    /// [`Growing::fill`] at the end of the run, waiting a little for a reading on its way.
    pub(crate) fn settle(&mut self, records: &mut [IntervalRecord]) {
        if self.server.settle(records) {
            self.refit(records);
        }
    }

    /// The readings, again from `records` (each second's end and what was held then).
    fn refit(&mut self, records: &[IntervalRecord]) {
        self.readings = records
            .iter()
            .filter_map(|r| Some((r.start_s + r.duration_s, r.held?)))
            .collect();
    }

    /// After a reading: every ten seconds of measurement, the growth so far to `observer`;
    /// once [`MIN_READINGS`] are in, a growth clause passed for certain stops the run.
    pub(crate) fn judge(
        &mut self,
        control: &Control,
        observer: Option<&mut (dyn Observer + '_)>,
        elapsed_s: f64,
    ) {
        let Some(&(at_s, held)) = self.readings.last() else {
            return;
        };
        if self.judged == self.readings.len() {
            return;
        }
        self.judged = self.readings.len();
        // A second ends on a whole second of measurement, give or take the clock's rounding.
        let event = at_s + 0.5 >= self.next_event_s;
        let check =
            self.stop.is_none() && !self.clauses.is_empty() && self.readings.len() >= MIN_READINGS;
        if !event && !check {
            return;
        }
        let Some(growth) = summarize(&self.readings) else {
            return;
        };
        if event {
            while self.next_event_s <= at_s + 0.5 {
                self.next_event_s += EVENT_EVERY_S;
            }
            if let Some(o) = observer {
                o.on_event(&Event::Growth {
                    elapsed_s,
                    held,
                    growth: &growth,
                });
            }
        }
        if check {
            self.stop = self.passed(&growth, at_s);
            if self.stop.is_some() {
                control.request_stop(StopReason::GrowthSlo);
            }
        }
    }

    /// The first clause whose limit the target's growth so far is past, steadily.
    fn passed(&self, growth: &ResourceSummary, at_s: f64) -> Option<CutShort> {
        let server = growth.server?;
        self.clauses.iter().find_map(|c| {
            let t = c.metric.trend(&server)?;
            let r2 = t.r2.filter(|r| *r >= CERTAIN_R2)?;
            (!c.cmp.holds(t.per_s, c.bound)).then(|| CutShort::GrowthSlo {
                clause: c.text.clone(),
                grew: match c.metric {
                    Metric::RssGrowth => Leak::Memory,
                    _ => Leak::Descriptors,
                },
                per_s: t.per_s,
                r2,
                after_s: at_s,
            })
        })
    }

    /// Why the run was stopped for the target's growth, if it was.
    pub(crate) fn stopped(self) -> Option<CutShort> {
        self.stop
    }
}

/// Whether `c` can stop a run: an upper bound on the whole run's growth of the target
/// (`rss_growth<=10MB/min`, `fd_growth<=0`). A lower bound not yet met may be met later.
fn can_stop(c: &Clause) -> bool {
    matches!(c.metric, Metric::RssGrowth | Metric::FdGrowth)
        && matches!(c.cmp, Cmp::Le | Cmp::Lt)
        && c.request.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Usage;

    fn reading(at_s: f64, rss_bytes: u64, fds: u64) -> (f64, Held) {
        let u = Usage {
            rss_bytes,
            fds,
            threads: 1,
            sockets: 0,
        };
        (
            at_s,
            Held {
                server: Some(u),
                driver: u,
            },
        )
    }

    /// The stop decided on `readings` under `slo`, judged after each reading as a run would.
    fn run(slo: &str, readings: &[(f64, Held)]) -> Option<CutShort> {
        let clauses = crate::report::slo::parse(slo).unwrap();
        let mut g = Growing::new(ServerHeld::Unseen, &clauses);
        let control = Control::new(1, u64::MAX);
        for r in readings {
            g.readings.push(*r);
            g.judge(&control, None, r.0);
            if g.stop.is_some() {
                assert_eq!(control.stop_reason(), StopReason::GrowthSlo);
                break;
            }
        }
        g.stopped()
    }

    /// A steady leak stops the run at the first judgement, with its clause, rate and r²; a
    /// growth under the limit, a lower bound, noise and a flat count never do.
    #[test]
    fn a_steady_leak_stops_the_run_once_ten_readings_are_in_and_noise_never_does() {
        let mib = 1_048_576;
        // 1 MiB a second, steadily: 60 MiB/min against a 10 MiB/min limit.
        let leak: Vec<_> = (1..=30)
            .map(|t| reading(t as f64, 20 * mib + t * mib, 9))
            .collect();
        match run("rss_growth<=10MB/min", &leak) {
            Some(CutShort::GrowthSlo {
                clause,
                grew,
                per_s,
                r2,
                after_s,
            }) => {
                assert_eq!(
                    (clause.as_str(), grew),
                    ("rss_growth<=10MB/min", Leak::Memory)
                );
                assert!(
                    (per_s - mib as f64).abs() < 1.0 && r2 > 0.999,
                    "{per_s} {r2}"
                );
                assert_eq!(
                    after_s, MIN_READINGS as f64,
                    "stopped at the first judgement"
                );
            }
            other => panic!("{other:?}"),
        }
        // Under the limit; or a lower bound, or a latency clause: no stop.
        assert_eq!(run("rss_growth<=100MB/min", &leak), None);
        assert_eq!(run("rss_growth>=100MB/min,p99<=1us", &leak), None);
        // Memory jumping up and down by 8 MiB: a fitted slope, but no line explains it.
        let noise: Vec<_> = (1..=30)
            .map(|t| reading(t as f64, 20 * mib + (t % 2) * 8 * mib + t * 1024, 9))
            .collect();
        assert_eq!(run("rss_growth<=1k/min", &noise), None);
        // Descriptors: a flat count has no r² at all; one a second is a leak.
        let flat: Vec<_> = (1..=30).map(|t| reading(t as f64, 20 * mib, 9)).collect();
        assert_eq!(run("fd_growth<=0", &flat), None);
        let fds: Vec<_> = (1..=30)
            .map(|t| reading(t as f64, 20 * mib, 9 + t))
            .collect();
        assert!(matches!(
            run("fd_growth<=0", &fds),
            Some(CutShort::GrowthSlo {
                grew: Leak::Descriptors,
                ..
            })
        ));
    }

    /// The observer hears the growth at the 10th and 20th second, and at no other.
    #[test]
    fn the_growth_so_far_goes_to_the_observer_every_ten_seconds() {
        let mut g = Growing::new(ServerHeld::Unseen, &[]);
        let control = Control::new(1, u64::MAX);
        let mut seen = Vec::new();
        let mut observer = |e: &Event<'_>| {
            if let Event::Growth { held, growth, .. } = e {
                seen.push((held.driver.fds, growth.driver.fds.last));
            }
        };
        for t in 1..=25 {
            g.readings.push(reading(t as f64, 1 << 20, t));
            g.judge(&control, Some(&mut observer), t as f64);
        }
        assert_eq!(seen, [(10, 10), (20, 20)]);
        assert!(!control.stopped());
    }
}
