//! Progress on stderr: on a terminal, a bar (indicatif) over the run's (or the whole sweep's)
//! length with the last second's rate, p50, p99 and the errors so far; elsewhere (logs, CI), one
//! plain line per second of measurement and a heartbeat while connecting or warming up. Every
//! ten seconds of measurement, a line on what the target holds and how fast it grows.

use std::io::IsTerminal;

use nines_common::units::thousands;
use std::time::Duration;

use nines_common::units::bytes_text;
use nines_driver::config::{Rate, StopAt};
use nines_driver::observer::{Event, Observer};
use nines_driver::report::resources::{fd_rate_text, rss_rate_text, Held, ResourceSummary, Trend};

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
                ..
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
            Event::Growth {
                elapsed_s,
                held,
                growth,
            } => {
                let at = self.position(*elapsed_s);
                let line = growth_line(held, growth);
                match &self.bar {
                    Some(bar) => bar.suspend(|| console::line(&line)),
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

/// What the target holds now and its growth so far (the driver's, with the target not read):
/// `server 41.2 MiB +1.3 MiB/min (r² 0.95), 37 fds +0/min`.
fn growth_line(held: &Held, growth: &ResourceSummary) -> String {
    let (who, now, g) = match (held.server, growth.server) {
        (Some(now), Some(g)) => ("server", now, g),
        _ => ("driver", held.driver, growth.driver),
    };
    let r2 = |t: &Trend| t.r2.map_or(String::new(), |r| format!(" (r² {r:.2})"));
    format!(
        "{who} {} {}{}, {} fds {}{}",
        bytes_text(now.rss_bytes as f64),
        rss_rate_text(g.rss_bytes.per_s),
        r2(&g.rss_bytes),
        now.fds,
        fd_rate_text(g.fds.per_s),
        r2(&g.fds)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ten-second line: the target's memory and descriptors now and their growth so far
    /// (the driver's when the target was not read).
    #[test]
    fn the_growth_line_says_the_target_now_and_its_growth_so_far() {
        use nines_driver::host::Usage;
        use nines_driver::report::resources::Growth;
        let usage = |rss_bytes, fds| Usage {
            rss_bytes,
            fds,
            threads: 2,
            sockets: 1,
        };
        let trend = |v: u64, per_s: f64, r2: Option<f64>| Trend {
            first: v,
            last: v,
            per_s,
            r2,
        };
        let growth = |rss: Trend, fds: Trend| Growth {
            rss_bytes: rss,
            fds,
            threads: trend(2, 0.0, None),
            sockets: trend(1, 0.0, None),
        };
        let held = Held {
            server: Some(usage(43_200_000, 37)),
            driver: usage(11 << 20, 12),
        };
        let summary = ResourceSummary {
            server: Some(growth(
                trend(0, 1.3 * 1_048_576.0 / 60.0, Some(0.951)),
                trend(37, 0.0, None),
            )),
            driver: growth(trend(0, 0.0, None), trend(12, 0.0, None)),
        };
        assert_eq!(
            growth_line(&held, &summary),
            "server 41.2 MiB +1.3 MiB/min (r² 0.95), 37 fds +0/min"
        );
        // An embedded (or remote) target: the driver's own.
        let driver_only = ResourceSummary {
            server: None,
            ..summary
        };
        assert_eq!(
            growth_line(&held, &driver_only),
            "driver 11.0 MiB +0 B/min, 12 fds +0/min"
        );
    }

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
