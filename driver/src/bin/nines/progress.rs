//! Progress on stderr: on a terminal, a bar (indicatif) over the run's length with the last
//! second's rate, p50, p99 and the errors so far; elsewhere (logs, CI), one plain line per
//! second of measurement and a heartbeat while connecting or warming up.

use std::io::IsTerminal;

use nines_common::units::thousands;
use nines_driver::config::{BenchConfig, StopAt};
use nines_driver::observer::{Event, Observer};

/// Prints progress when enabled.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    total: String,
    /// The bar, on a terminal with a run of known length.
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// Progress for a run of `cfg`.
    pub fn new(cfg: &BenchConfig, enabled: bool) -> Progress {
        let total = match cfg.stop {
            StopAt::Duration(d) => format!("{:.0}s", (cfg.warmup + d).as_secs_f64()),
            StopAt::Requests(n) => format!("{} req", thousands(n)),
        };
        let bar = match cfg.stop {
            StopAt::Duration(d) if enabled && std::io::stderr().is_terminal() => {
                let secs = (cfg.warmup + d).as_secs().max(1);
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
        let total = &self.total;
        match event {
            Event::Interval {
                interval,
                elapsed_s,
                errors,
            } => {
                let secs = interval.duration_ns as f64 / 1e9;
                let rate = if secs > 0.0 {
                    interval.hist.len() as f64 / secs
                } else {
                    0.0
                };
                let us = |q: f64| match interval.hist.is_empty() {
                    true => "-".to_string(),
                    false => format!("{:.1}", interval.hist.value_at_quantile(q) as f64 / 1000.0),
                };
                let line = format!(
                    "{:>10} req/s  p50 {:>9} µs  p99 {:>9} µs  errors {errors}",
                    thousands(rate.round() as u64),
                    us(0.5),
                    us(0.99),
                );
                match &self.bar {
                    Some(bar) => {
                        bar.set_position(elapsed_s.round() as u64);
                        bar.set_message(line);
                    }
                    None => eprintln!("[{elapsed_s:>6.1}s / {total}] {line}"),
                }
            }
            Event::Phase {
                phase,
                elapsed_s,
                errors,
            } => match &self.bar {
                Some(bar) => {
                    bar.set_position(elapsed_s.round() as u64);
                    bar.set_message(format!("{phase}  errors {errors}"));
                }
                None => eprintln!("[{elapsed_s:>6.1}s / {total}] {phase}  errors {errors}"),
            },
        }
    }
}
