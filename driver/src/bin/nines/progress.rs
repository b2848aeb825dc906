//! Progress on stderr: on a terminal, a bar (indicatif) over the run's (or the whole sweep's)
//! length with the last second's rate, p50, p99 and the errors so far; elsewhere (logs, CI), one
//! plain line per second of measurement and a heartbeat while connecting or warming up.

use std::io::IsTerminal;

use nines_common::units::thousands;
use std::time::Duration;

use nines_driver::config::{Rate, StopAt};
use nines_driver::observer::{Event, Observer};

use crate::console;

/// Prints progress when enabled.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    total: String,
    /// The bar, on a terminal with a run of known length.
    bar: Option<indicatif::ProgressBar>,
    /// Seconds of the runs before this one (a sweep is several runs, each starting its clock
    /// at zero), and the last elapsed time seen in this one.
    before_s: f64,
    last_s: f64,
    /// An open loop's rate, whose target for each second is shown beside what it achieved.
    target: Option<Rate>,
}

impl Progress {
    /// Progress over runs of `length` in all (a sweep's runs together; `None`: unknown), each
    /// stopping at `stop`.
    pub fn new(length: Option<Duration>, stop: StopAt, enabled: bool) -> Progress {
        let total = match (length, stop) {
            (Some(d), _) => format!("{:.0}s", d.as_secs_f64()),
            (None, StopAt::Requests(n)) => format!("{} req", thousands(n)),
            (None, StopAt::Duration(_)) => "?".to_string(),
        };
        let bar = match length {
            Some(d) if enabled && std::io::stderr().is_terminal() => {
                let secs = d.as_secs().max(1);
                let bar = indicatif::ProgressBar::new(secs);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:30.cyan/blue} {pos:>4}/{len}s {msg}",
                    )
                    .expect("a valid template"),
                );
                Some(bar)
            }
            _ => None,
        };
        Progress {
            enabled,
            total,
            bar,
            before_s: 0.0,
            last_s: 0.0,
            target: None,
        }
    }

    /// Shows each second's target rate beside its achieved one (an open loop's).
    pub fn with_target(mut self, rate: Rate) -> Progress {
        self.target = Some(rate);
        self
    }

    /// Seconds since the first run began, from the current run's `elapsed_s`.
    fn position(&mut self, elapsed_s: f64) -> f64 {
        if elapsed_s + 0.5 < self.last_s {
            // A new run of a sweep: its clock restarted.
            self.before_s += self.last_s;
        }
        self.last_s = elapsed_s;
        self.before_s + elapsed_s
    }

    /// A handle that prints lines without tearing the bar while this progress is lent out as the
    /// run's observer.
    pub fn printer(&self) -> Printer {
        Printer {
            bar: self.bar.clone(),
        }
    }
}

/// See [`Progress::printer`].
#[derive(Debug, Clone)]
pub struct Printer {
    bar: Option<indicatif::ProgressBar>,
}

impl Printer {
    /// Prints a line to stdout (or stderr) without tearing the bar. A stdout that does not
    /// take it is noted ([`console::stdout_failed`]) and the run goes on.
    pub fn say(&self, line: &str, to_stderr: bool) {
        let print = || {
            if to_stderr {
                console::line(line);
            } else {
                console::out(&format!("{line}\n"));
            }
        };
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn on_event(&mut self, event: &Event<'_>) {
        if !self.enabled {
            return;
        }
        match event {
            Event::Interval {
                interval,
                elapsed_s,
                errors,
            } => {
                let secs = interval.duration_ns as f64 / 1e9;
                if secs < nines_driver::report::plot::MIN_INTERVAL_S {
                    // The last replies draining after the window: not a second's rate.
                    return;
                }
                let at = self.position(*elapsed_s);
                let rate = if secs > 0.0 {
                    interval.hist.len() as f64 / secs
                } else {
                    0.0
                };
                let us = |q: f64| match interval.hist.is_empty() {
                    true => "-".to_string(),
                    false => format!("{:.1}", interval.hist.value_at_quantile(q) as f64 / 1000.0),
                };
                // A staged run's target changes second by second: say what it was.
                let target = match &self.target {
                    Some(t) if t.stages().is_some() => {
                        let start = interval.offset_ns as f64 / 1e9;
                        let asked = t.expected_between(start, start + secs) / secs;
                        format!(" of {:>9}", thousands(asked.round() as u64))
                    }
                    _ => String::new(),
                };
                let line = format!(
                    "{:>10}{target} req/s  p50 {:>9} µs  p99 {:>9} µs  errors {errors}",
                    thousands(rate.round() as u64),
                    us(0.5),
                    us(0.99),
                );
                match &self.bar {
                    Some(bar) => {
                        bar.set_position(at.round() as u64);
                        bar.set_message(line);
                    }
                    None => console::line(format_args!("[{at:>6.1}s / {}] {line}", self.total)),
                }
            }
            Event::Phase {
                phase,
                elapsed_s,
                errors,
            } => {
                let at = self.position(*elapsed_s);
                match &self.bar {
                    Some(bar) => {
                        bar.set_position(at.round() as u64);
                        bar.set_message(format!("{phase}  errors {errors}"));
                    }
                    None => {
                        console::line(format_args!(
                            "[{at:>6.1}s / {}] {phase}  errors {errors}",
                            self.total
                        ));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweeps_position_runs_on_across_its_steps() {
        let mut p = Progress::new(None, StopAt::Requests(1), false);
        let seen: Vec<f64> = [0.0, 1.0, 2.0, 0.0, 1.5, 3.0, 0.0]
            .iter()
            .map(|&e| p.position(e))
            .collect();
        // Each run's clock restarts at zero; the position carries on from the last run's end.
        assert_eq!(seen, [0.0, 1.0, 2.0, 2.0, 3.5, 5.0, 5.0]);
    }
}
