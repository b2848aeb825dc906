//! How connections were set up, as measured: the TCP connect time of each, the TLS handshake
//! time of each (apart, so a slow handshake is not read as a slow network), full and resumed
//! handshakes counted, the CPU the handshakes took on this side, and the first handshake
//! failure in words (the rest are counted by kind with the run's errors).

use hdrhistogram::Histogram;

use super::conn::Opened;
use super::tally::Tally;
use crate::recorder::new_histogram;
use crate::transport::Failure;

/// One thread's (or a run's) connection set-up.
#[derive(Debug, Clone)]
pub struct Handshakes {
    /// From starting a connect to TCP being up, ns.
    pub tcp_ns: Histogram<u64>,
    /// From TCP being up to the TLS handshake being done, ns (TLS targets).
    pub tls_ns: Histogram<u64>,
    /// TLS handshakes that were full (a certificate exchanged).
    pub full: u64,
    /// TLS handshakes that resumed an earlier session.
    pub resumed: u64,
    /// This side's CPU time in TLS handshakes, ns.
    pub tls_cpu_ns: u64,
    /// The first failed handshake, in words.
    pub first_failure: Option<String>,
    /// The version and cipher suite the first handshake settled on.
    pub negotiated: Option<(String, String)>,
    /// When the first TLS connect began and the last TLS handshake ended (run clock, ns): the
    /// span handshakes per second are over.
    pub span_ns: Option<(u64, u64)>,
}

impl Default for Handshakes {
    fn default() -> Self {
        Handshakes {
            tcp_ns: new_histogram(),
            tls_ns: new_histogram(),
            full: 0,
            resumed: 0,
            tls_cpu_ns: 0,
            first_failure: None,
            negotiated: None,
            span_ns: None,
        }
    }
}

impl Handshakes {
    /// A connection begun at `started_ns` opened at `now`: records how its set-up went.
    pub(crate) fn opened(&mut self, o: &Opened, started_ns: u64, now: u64) {
        let _ = self.tcp_ns.record(o.tcp_ns.max(1));
        if let Some(h) = o.tls {
            self.span_ns = Some(
                self.span_ns
                    .map_or((started_ns, now), |(a, b)| (a.min(started_ns), b.max(now))),
            );
            let _ = self.tls_ns.record(h.ns.max(1));
            if h.resumed {
                self.resumed += 1;
            } else {
                self.full += 1;
            }
            self.tls_cpu_ns += h.cpu_ns;
            if self.negotiated.is_none() {
                let name = |d: Option<String>| d.unwrap_or_default();
                self.negotiated = Some((
                    name(h.version.map(|v| format!("{v:?}"))),
                    name(h.suite.map(|s| format!("{s:?}"))),
                ));
            }
        }
    }

    /// A TLS handshake failed: counted by kind, the first kept in words.
    pub(crate) fn failed(&mut self, f: Failure, tally: &mut Tally<'_>) {
        tally.add(f.kind.error_kind(), 1);
        tracing::debug!(failure = %f, "TLS handshake failed");
        self.first_failure.get_or_insert(f.detail);
    }

    /// An open connection was refused by the server (an alert; already counted with the
    /// connection's loss): its words are kept if it is the first failure.
    pub(crate) fn refused(&mut self, f: Failure) {
        tracing::debug!(failure = %f, "TLS refusal on an open connection");
        self.first_failure.get_or_insert(f.detail);
    }

    /// TLS handshakes done.
    pub fn tls_handshakes(&self) -> u64 {
        self.full + self.resumed
    }

    /// Adds another thread's.
    pub fn merge(&mut self, other: &Handshakes) {
        let _ = self.tcp_ns.add(&other.tcp_ns);
        let _ = self.tls_ns.add(&other.tls_ns);
        self.full += other.full;
        self.resumed += other.resumed;
        self.tls_cpu_ns += other.tls_cpu_ns;
        if self.first_failure.is_none() {
            self.first_failure.clone_from(&other.first_failure);
        }
        if self.negotiated.is_none() {
            self.negotiated.clone_from(&other.negotiated);
        }
        self.span_ns = match (self.span_ns, other.span_ns) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (a, b) => a.or(b),
        };
    }

    /// TLS handshakes per second over the span they were made in.
    pub fn rate_per_s(&self) -> f64 {
        match self.span_ns {
            Some((a, b)) if b > a => self.tls_handshakes() as f64 * 1e9 / (b - a) as f64,
            _ => 0.0,
        }
    }
}
