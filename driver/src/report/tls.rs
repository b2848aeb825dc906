//! A TLS run's own figures (`tls` in the JSON): the handshake measured apart from the TCP
//! connect — each a histogram with its percentiles — full and resumed handshakes, handshakes
//! per second, the CPU a handshake cost on each side where it could be measured, whether
//! certificates were verified, and the first handshake failure in words.

use serde::{Deserialize, Serialize};

use super::histogram::{add, growable, Hist, HistogramError};
use super::LatencySummary;

/// What a TLS run measured of its handshakes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TlsSummary {
    /// Certificates were not verified (`--insecure`).
    pub insecure: bool,
    /// Sessions could be resumed (not `--no-tls-resume`).
    pub resume: bool,
    /// The version the server chose (as rustls names it, e.g. `TLSv1_3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The cipher suite the server chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher_suite: Option<String>,
    /// Handshakes completed.
    pub handshakes: u64,
    /// ... of which full (certificate and key exchange).
    pub full: u64,
    /// ... of which resumed an earlier session.
    pub resumed: u64,
    /// Handshakes completed per second, from the first TLS connect begun to the last handshake
    /// done (in bench the connect phase and reconnects; a storm's ramp).
    pub handshakes_per_s: f64,
    /// TLS handshake time (from TCP up to the handshake done), µs.
    pub handshake_us: Option<LatencySummary>,
    /// TCP connect time (from the connect to TCP up), µs.
    pub tcp_connect_us: Option<LatencySummary>,
    /// This side's CPU per handshake, µs (thread CPU time in handshake steps).
    pub driver_cpu_per_handshake_us: Option<f64>,
    /// The server's CPU per handshake, µs, when its CPU was measured and handshakes were the
    /// run's load (a storm): its CPU over the run divided by the handshakes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_per_handshake_us: Option<f64>,
    /// The first handshake that failed, in words (the rest are counted by kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<String>,
    /// The distributions, ns.
    pub histograms: TlsHistograms,
}

/// The handshake and TCP connect distributions, ns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TlsHistograms {
    /// TLS handshake times.
    pub handshake: Hist,
    /// TCP connect times.
    pub tcp_connect: Hist,
}

impl TlsSummary {
    /// Percentiles from the histograms (after they were built or added).
    pub fn summarize(&mut self) {
        self.handshake_us = LatencySummary::from_histogram(&self.histograms.handshake.0);
        self.tcp_connect_us = LatencySummary::from_histogram(&self.histograms.tcp_connect.0);
    }

    /// Several runs' TLS figures as one (`nines merge`, a storm's processes): counts and
    /// histograms added, rates added (the runs ran side by side), the driver's CPU per
    /// handshake weighted by handshakes. The server's is `server_cpu`'s (the merged report's
    /// one measure of the server, `None` when there is none) over every part's handshakes:
    /// each part divided the whole server's CPU by its own handshakes only.
    pub fn merge(
        parts: &[&TlsSummary],
        server_cpu: Option<&super::server_cpu::ServerCpu>,
    ) -> Result<Option<TlsSummary>, HistogramError> {
        let Some(first) = parts.first() else {
            return Ok(None);
        };
        let (mut handshake, mut tcp) = (growable(), growable());
        for p in parts {
            add(&mut handshake, &p.histograms.handshake.0)?;
            add(&mut tcp, &p.histograms.tcp_connect.0)?;
        }
        let sum = |f: fn(&TlsSummary) -> u64| parts.iter().map(|p| f(p)).sum::<u64>();
        let handshakes = sum(|p| p.handshakes);
        let weighted = |f: fn(&TlsSummary) -> Option<f64>| {
            let known: Vec<_> = parts
                .iter()
                .filter_map(|p| f(p).map(|v| (v, p.handshakes as f64)))
                .collect();
            let n: f64 = known.iter().map(|(_, w)| w).sum();
            (n > 0.0).then(|| known.iter().map(|(v, w)| v * w).sum::<f64>() / n)
        };
        let mut m = TlsSummary {
            insecure: parts.iter().any(|p| p.insecure),
            resume: first.resume,
            version: first.version.clone(),
            cipher_suite: first.cipher_suite.clone(),
            handshakes,
            full: sum(|p| p.full),
            resumed: sum(|p| p.resumed),
            handshakes_per_s: parts.iter().map(|p| p.handshakes_per_s).sum(),
            handshake_us: None,
            tcp_connect_us: None,
            driver_cpu_per_handshake_us: weighted(|p| p.driver_cpu_per_handshake_us),
            server_cpu_per_handshake_us: server_cpu
                .filter(|_| {
                    parts
                        .iter()
                        .any(|p| p.server_cpu_per_handshake_us.is_some())
                })
                .filter(|_| handshakes > 0)
                .map(|c| c.cpu_s * 1e6 / handshakes as f64),
            first_failure: parts.iter().find_map(|p| p.first_failure.clone()),
            histograms: TlsHistograms {
                handshake: Hist(handshake),
                tcp_connect: Hist(tcp),
            },
        };
        m.summarize();
        Ok(Some(m))
    }

    /// One line for the text summary: versions, counts, the handshake's percentiles.
    pub fn line(&self) -> String {
        let pct = |s: &Option<LatencySummary>| {
            s.as_ref().map_or_else(
                || "-".to_string(),
                |l| format!("p50 {:.0} µs, p99 {:.0} µs", l.p50, l.p99),
            )
        };
        let verified = if self.insecure {
            "NOT VERIFIED (--insecure)"
        } else {
            "certificate verified"
        };
        let version = self.version.as_deref().unwrap_or("no session");
        format!(
            "{version} {}, {verified}; {} handshakes ({} full, {} resumed{}), handshake {}; TCP connect {}",
            self.cipher_suite.as_deref().unwrap_or(""),
            self.handshakes,
            self.full,
            self.resumed,
            if self.resume { "" } else { ", resumption off" },
            pct(&self.handshake_us),
            pct(&self.tcp_connect_us),
        )
    }
}

/// A target's name as the report shows it, with the TLS scheme when the run spoke TLS
/// (`https://...`, `wss://...`, `rediss://...`; `tls://host:port` for nines and echo).
pub fn target_name(plain: String, tls: bool) -> String {
    if !tls {
        return plain;
    }
    for (from, to) in [
        ("http://", "https://"),
        ("ws://", "wss://"),
        ("redis://", "rediss://"),
    ] {
        if let Some(rest) = plain.strip_prefix(from) {
            return format!("{to}{rest}");
        }
    }
    format!("tls://{plain}")
}
