//! The target's and the driver's resources in the terminal summary: memory, descriptors,
//! threads and sockets from the first second to the last, their growth, and a plain question
//! when the target grew steadily while it was loaded.

use std::fmt::Write;

use super::bytes_text;
use crate::report::resources::{rss_rate_text, Growth, Leak, Trend};
use crate::report::Report;

/// `12.0 MiB → 14.1 MiB (+1.2 MiB/min, r² 0.98)`.
fn memory(t: &Trend) -> String {
    format!(
        "RSS {} → {} ({}{})",
        bytes_text(t.first as f64),
        bytes_text(t.last as f64),
        rss_rate_text(t.per_s),
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

/// Why the target's growth looks like a leak, where it does ([`Growth::leaks`]).
pub fn leak_hints(g: &Growth) -> Vec<String> {
    g.leaks()
        .into_iter()
        .map(|(leak, t)| match leak {
            Leak::Memory => format!(
                "server RSS {} (r² {:.2}) while it was loaded: a leak?",
                rss_rate_text(t.per_s),
                t.r2.unwrap_or(0.0)
            ),
            Leak::Descriptors => format!(
                "server descriptors {} → {} (+{:.1}/s, r² {:.2}) while it was loaded: a descriptor leak?",
                t.first,
                t.last,
                t.per_s,
                t.r2.unwrap_or(0.0)
            ),
        })
        .collect()
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
