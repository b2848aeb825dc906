//! A storm's lines in the terminal summary: the seed's statistics (clients started, connected,
//! connect time, messages, timeouts, losses, crashes) and memory per connection.

use std::fmt::Write;

use nines_common::units::thousands;

use crate::config::{BenchConfig, Storm};
use crate::report::storm::{Memory, Sessions, StormSummary};
use crate::schedule::Arrival;

/// What EADDRNOTAVAIL on connect means, and the way out.
const PORTS_OUT: &str = "EADDRNOTAVAIL: no local port was free to connect from (a connection this side closes holds its port in TIME_WAIT for a minute, and sessions close many): add --source addresses, widen net.ipv4.ip_local_port_range, enable net.ipv4.tcp_tw_reuse, or lengthen the sessions";
use crate::report::tls::TlsSummary;
use crate::report::Report;

/// The title line of a storm.
pub fn title(r: &Report, c: &BenchConfig, st: &Storm) -> String {
    let spacing = match st.think {
        Arrival::Constant => "",
        Arrival::Poisson => " on average (poisson)",
    };
    let sessions = st.session.map_or(String::new(), |s| {
        format!(" | sessions of {}", s.describe())
    });
    format!(
        "nines storm {}{} | {} connection(s) at {}/s, a message every {}{spacing}{sessions} | {} thread(s) | {} | held {}",
        r.target,
        super::embedded(r),
        thousands(c.connections as u64),
        thousands(st.connect_rate.round() as u64),
        nines_common::units::HumanDuration(st.interval),
        r.driver.threads,
        c.request.describe(),
        nines_common::units::HumanDuration(st.hold),
    )
}

/// A storm's sessions: how many ended and were replaced, and the connect rate they made.
fn sessions(s: &mut String, ss: &Sessions) {
    let _ = writeln!(
        s,
        "  sessions    {} completed, {:.1} connects/s over the run (the connect times include every replacement), {} replies to clients still connected at the end",
        thousands(ss.completed),
        ss.connects_per_s,
        thousands(ss.unfinished_replies),
    );
}

/// A TLS storm's handshakes: the rate, full vs resumed, their time apart from TCP's, and the
/// CPU each cost on both sides.
fn handshakes(s: &mut String, t: &TlsSummary) {
    let cpu = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.0} µs"));
    let _ = writeln!(
        s,
        "  handshakes  {}/s: {} full, {} resumed; CPU per handshake: driver {}, server {}",
        thousands(t.handshakes_per_s.round() as u64),
        thousands(t.full),
        thousands(t.resumed),
        cpu(t.driver_cpu_per_handshake_us),
        cpu(t.server_cpu_per_handshake_us),
    );
    for (what, l) in [("TLS µs", &t.handshake_us), ("TCP µs", &t.tcp_connect_us)] {
        if let Some(l) = l {
            let _ = writeln!(
                s,
                "  {what:<10}  p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
                l.p50, l.p90, l.p99, l.p99_9, l.max
            );
        }
    }
}

/// The storm's own lines.
pub fn lines(s: &mut String, r: &Report, st: &StormSummary) {
    let failed: u64 = r.driver.connect_failures.values().sum();
    let _ = writeln!(
        s,
        "  clients     {} started, {} connected, {} failed, {} lost, {} open at the end",
        thousands(st.started),
        thousands(st.connected),
        thousands(failed),
        thousands(r.driver.connections_lost),
        thousands(st.open_at_end)
    );
    if !r.driver.connect_failures.is_empty() {
        let by: Vec<String> = r
            .driver
            .connect_failures
            .iter()
            .map(|(e, n)| format!("{e} {}", thousands(*n)))
            .collect();
        let _ = writeln!(
            s,
            "  failures    {} (connect timeouts: {})",
            by.join(", "),
            thousands(st.connect_timeouts)
        );
        if r.driver.connect_failures.contains_key("EADDRNOTAVAIL") {
            let _ = writeln!(s, "  {PORTS_OUT}");
        }
    }
    if let Some(ss) = &st.sessions {
        sessions(s, ss);
    }
    if let Some(l) = &st.connect_time_us {
        let _ = writeln!(
            s,
            "  connect µs  p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1} (handshake included)",
            l.p50, l.p90, l.p99, l.p99_9, l.max
        );
    }
    if let Some(t) = &r.tls {
        handshakes(s, t);
    }
    if let Some(l) = &st.send_lag_us {
        let _ = writeln!(
            s,
            "  send lag µs p50 {:.1}  p99 {:.1}  max {:.1} (how late the driver sent messages: part of the echo latency)",
            l.p50, l.p99, l.max
        );
    }
    let _ = writeln!(
        s,
        "  messages    {} sent, {} echoed",
        thousands(r.driver.requests_sent),
        thousands(r.requests)
    );
    for c in &st.crashes {
        let _ = writeln!(
            s,
            "  CRASH SEEN  at {:.0} s: {} of {} connections lost in one second",
            c.at_s,
            thousands(c.lost),
            thousands(c.open_before)
        );
    }
    memory(s, r, st);
}

/// Memory on each side and the kernel's sockets.
fn memory(s: &mut String, r: &Report, st: &StormSummary) {
    let mem = |who: &str, m: &Memory| {
        // Over TLS each connection's session state is in its figure.
        let tls = if r.tls.is_some() {
            " (TLS state included)"
        } else {
            ""
        };
        let per = m.bytes_per_connection.map_or(String::new(), |b| {
            format!(", {b:.0} B per open connection{tls}")
        });
        format!(
            "  {who:<11} RSS {} KiB before, {} KiB holding{per}",
            thousands(m.rss_before_kib),
            thousands(m.rss_holding_kib)
        )
    };
    if let Some(m) = &st.server_memory {
        let _ = writeln!(s, "{}", mem("server", m));
    }
    if let Some(m) = &st.driver_memory {
        let who = if r.embedded_server {
            "driver+srv"
        } else {
            "driver"
        };
        let _ = writeln!(s, "{}", mem(who, m));
    }
    if let (Some(b), Some(h)) = (st.sockstat_before, st.sockstat_holding) {
        let _ = writeln!(
            s,
            "  kernel      TCP sockets {} -> {}, TCP buffer memory {} -> {} pages",
            thousands(b.tcp_inuse),
            thousands(h.tcp_inuse),
            thousands(b.tcp_mem_pages),
            thousands(h.tcp_mem_pages)
        );
    }
}
