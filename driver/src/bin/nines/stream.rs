//! `--stats-stream FILE|-`: one JSON line per second of measurement for dashboards — the
//! second's throughput, percentiles, errors, bytes received, connections opened and lost, and
//! what the target and the driver held at its end — flushed as each second is released.

use std::io::Write;
use std::path::Path;

use nines_driver::observer::{Event, Observer};
use serde_json::json;

/// Writes a JSON line per interval to its writer, and passes every event on to `inner`.
pub struct Stream<'a> {
    out: Box<dyn Write>,
    inner: &'a mut dyn Observer,
    failed: bool,
}

impl<'a> Stream<'a> {
    /// A stream to `path` (`-` for stdout), in front of `inner`.
    pub fn open(path: &Path, inner: &'a mut dyn Observer) -> std::io::Result<Stream<'a>> {
        let out: Box<dyn Write> = if path.as_os_str() == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::io::BufWriter::new(std::fs::File::create(path)?))
        };
        Ok(Stream {
            out,
            inner,
            failed: false,
        })
    }
}

impl Observer for Stream<'_> {
    fn on_event(&mut self, event: &Event<'_>) {
        self.inner.on_event(event);
        let Event::Interval {
            interval: iv,
            elapsed_s,
            errors,
            held,
        } = event
        else {
            return;
        };
        let secs = iv.duration_ns as f64 / 1e9;
        let us =
            |q: f64| (!iv.hist.is_empty()).then(|| iv.hist.value_at_quantile(q) as f64 / 1000.0);
        let line = json!({
            "interval": iv.index,
            "elapsed_s": (elapsed_s * 1000.0).round() / 1000.0,
            "duration_s": secs,
            "requests": iv.hist.len(),
            "throughput_rps": if secs > 0.0 { iv.hist.len() as f64 / secs } else { 0.0 },
            "received_bytes_per_s": if secs > 0.0 { iv.received_bytes as f64 / secs } else { 0.0 },
            "p50_us": us(0.5),
            "p90_us": us(0.9),
            "p99_us": us(0.99),
            "p99_9_us": us(0.999),
            "max_us": (!iv.hist.is_empty()).then(|| iv.hist.max() as f64 / 1000.0),
            "errors": iv.errors,
            "errors_total": errors,
            "connections_opened": iv.opened,
            "connections_lost": iv.lost,
            "held": held,
        });
        let written = writeln!(self.out, "{line}").and_then(|()| self.out.flush());
        if written.is_err() && !self.failed {
            self.failed = true;
            crate::console::line(
                "nines: warning: the stats stream could not be written; the run goes on",
            );
        }
    }
}
