//! The target's and the driver's resources in the terminal summary: memory, descriptors,
//! threads and sockets from the first second to the last, their growth, and a plain question
//! when the target grew steadily while it was loaded.

use std::fmt::Write;

use super::bytes_text;
use crate::report::resources::{Growth, Trend};
use crate::report::Report;

/// r² from which a growth is called steady.
const STEADY_R2: f64 = 0.8;

/// `12.0 MiB → 14.1 MiB (+1.2 MiB/min, r² 0.98)`.
fn memory(t: &Trend) -> String {
    let sign = if t.per_s < 0.0 { "-" } else { "+" };
    format!(
        "RSS {} → {} ({sign}{}/min{})",
        bytes_text(t.first as f64),
        bytes_text(t.last as f64),
        bytes_text(t.per_s.abs() * 60.0),
        t.r2.map_or(String::new(), |r| format!(", r² {r:.2}"))
    )
}

/// `22 descriptors`, `216 → 616 descriptors`, `1 thread`.
fn count(t: &Trend, what: &str) -> String {
    let s = if t.last == 1 { "" } else { "s" };
    if t.first == t.last {
        format!("{} {what}{s}", t.first)
    } else {
        format!("{} → {} {what}{s}", t.first, t.last)
    }
}

fn line(g: &Growth) -> String {
    format!(
        "{}, {}, {}",
        memory(&g.rss_bytes),
        count(&g.fds, "descriptor"),
        count(&g.threads, "thread")
    )
}

/// Why the target's growth looks like a leak, where it does: a steady rise of memory (at least
/// 1 MiB a minute), of descriptors (at least 10 over the run), or both.
pub fn leak_hints(g: &Growth) -> Vec<String> {
    let steady = |t: &Trend| t.per_s > 0.0 && t.r2.is_some_and(|r| r >= STEADY_R2);
    let mut hints = Vec::new();
    if steady(&g.rss_bytes) && g.rss_bytes.per_s * 60.0 >= f64::from(1u32 << 20) {
        hints.push(format!(
            "server RSS +{}/min (r² {:.2}) while it was loaded: a leak?",
            bytes_text(g.rss_bytes.per_s * 60.0),
            g.rss_bytes.r2.unwrap_or(0.0)
        ));
    }
    if steady(&g.fds) && g.fds.last >= g.fds.first + 10 {
        hints.push(format!(
            "server descriptors {} → {} (+{:.1}/s, r² {:.2}) while it was loaded: a descriptor leak?",
            g.fds.first,
            g.fds.last,
            g.fds.per_s,
            g.fds.r2.unwrap_or(0.0)
        ));
    }
    hints
}

/// The resources lines (nothing without readings).
pub fn text(s: &mut String, r: &Report) {
    let Some(res) = &r.resources else {
        return;
    };
    if let Some(g) = &res.server {
        let _ = writeln!(s, "  server      {}, {} sockets", line(g), g.sockets.last);
        for hint in leak_hints(g) {
            let _ = writeln!(s, "  GROWING     {hint}");
        }
    }
    let _ = writeln!(s, "  driver      {}", line(&res.driver));
}
