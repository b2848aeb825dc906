//! Progress lines on stderr, one per second of measurement (rate, p50 and p99 of that second,
//! errors so far) and a heartbeat while connecting or warming up: the binary's observer.

use nines_common::units::thousands;
use nines_driver::config::{BenchConfig, StopAt};
use nines_driver::observer::{Event, Observer};

/// Prints progress when enabled.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    total: String,
}

impl Progress {
    /// Progress for a run of `cfg`.
    pub fn new(cfg: &BenchConfig, enabled: bool) -> Progress {
        let total = match cfg.stop {
            StopAt::Duration(d) => format!("{:.0}s", (cfg.warmup + d).as_secs_f64()),
            StopAt::Requests(n) => format!("{} req", thousands(n)),
        };
        Progress { enabled, total }
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
                eprintln!(
                    "[{elapsed_s:>6.1}s / {total}] {:>10} req/s  p50 {:>9} µs  p99 {:>9} µs  errors {errors}",
                    thousands(rate.round() as u64),
                    us(0.5),
                    us(0.99),
                );
            }
            Event::Phase {
                phase,
                elapsed_s,
                errors,
            } => {
                eprintln!("[{elapsed_s:>6.1}s / {total}] {phase}  errors {errors}");
            }
        }
    }
}
