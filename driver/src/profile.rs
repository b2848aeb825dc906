//! `nines profile`: where a nines-server's time goes under load.
//!
//! Reads the server's counters (the Stats op) before and after a short run and turns the
//! difference in its phase clocks into shares of accept, read, process, write and overhead that
//! sum to 100, naming the largest as the bottleneck. The load is an ordinary bench run, so every
//! bench option applies, and the result is that run's [`Report`] with its `profile` filled in.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nines_common::Protocol;
use nines_protocol::stats::Profile;
use nines_protocol::{decode, encode, Flags, Header, Op};

use crate::config::BenchConfig;
use crate::report::{ProfileSummary, Report};
use crate::run::{resolve, run, start_embedded, Hooks, RunError};

/// Why a profile could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The load run could not start.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The server's counters could not be read.
    #[error("cannot read the counters of {addr}: {why} (profile needs nines-server speaking the nines protocol)")]
    Stats {
        /// Server address.
        addr: SocketAddr,
        /// What went wrong.
        why: String,
    },
    /// The server recorded no time (no load reached it).
    #[error("the server recorded no work during the run; nothing to profile")]
    Empty,
}

/// Reads a nines-server's counters with one Stats request on a new connection.
pub fn fetch_stats(
    addr: SocketAddr,
    timeout: Duration,
) -> Result<Vec<(String, u64)>, ProfileError> {
    let fail = |why: String| ProfileError::Stats { addr, why };
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| fail(e.to_string()))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| fail(e.to_string()))?;
    let mut req = Vec::new();
    encode(&Header::request(Op::Stats, 0), &[], &mut req);
    s.write_all(&req).map_err(|e| fail(e.to_string()))?;
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match decode(&buf, 1 << 20) {
            Ok(Some((f, _)))
                if f.header.op == Op::Stats && f.header.flags.contains(Flags::RESPONSE) =>
            {
                return nines_protocol::stats::parse(f.payload).map_err(|e| fail(e.to_string()));
            }
            Ok(Some(_)) => return fail_reply(addr),
            Ok(None) => {}
            Err(e) => return Err(fail(format!("reply is not a nines frame ({e})"))),
        }
        if Instant::now() >= deadline {
            return Err(fail("no reply in time".into()));
        }
        match s.read(&mut chunk) {
            Ok(0) => return Err(fail("connection closed before the reply".into())),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(fail(e.to_string())),
        }
    }
}

fn fail_reply(addr: SocketAddr) -> Result<Vec<(String, u64)>, ProfileError> {
    Err(ProfileError::Stats {
        addr,
        why: "the reply was not a Stats reply (is it an echo server?)".into(),
    })
}

/// Runs `cfg` as load and profiles the server it loads (embedding one if `cfg.target` is None).
pub fn profile(cfg: &BenchConfig, hooks: &mut Hooks<'_>) -> Result<Report, ProfileError> {
    if cfg.request.protocol != Protocol::Nines {
        return Err(RunError::Usage(vec![nines_common::usage::UsageError::new(
            "--protocol",
            format!(
                "{}: profile needs the nines protocol (the Stats op reads the server's clocks)",
                cfg.request.protocol
            ),
        )])
        .into());
    }
    let usage = cfg.validate();
    if !usage.is_empty() {
        return Err(RunError::Usage(usage).into());
    }
    let mut cfg = cfg.clone();
    // The embedded server must outlive the run so its counters can be read afterwards.
    let embedded = match &cfg.target {
        Some(_) => None,
        None => {
            let s = start_embedded(&cfg)?;
            cfg.target = Some(s.local_addr().to_string());
            Some(s)
        }
    };
    let addr = resolve(cfg.target.as_deref().unwrap_or_default())?;
    let before = fetch_stats(addr, cfg.connect_timeout)?;
    let mut report = run(&cfg, hooks)?;
    let after = fetch_stats(addr, cfg.connect_timeout)?;
    if let Some(s) = embedded {
        report.embedded_server = true;
        report.server = Some(
            s.shutdown()
                .pairs()
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        );
    }
    let p = Profile::between(&before, &after).ok_or(ProfileError::Empty)?;
    let get = |pairs: &[(String, u64)], k: &str| {
        pairs.iter().find(|(n, _)| n == k).map_or(0, |(_, v)| *v)
    };
    report.profile = Some(ProfileSummary {
        accept_pct: p.accept_pct,
        read_pct: p.read_pct,
        process_pct: p.process_pct,
        write_pct: p.write_pct,
        overhead_pct: p.overhead_pct,
        bottleneck: p.bottleneck().to_string(),
        profiled_ns: p.total_ns,
        // The "after" Stats request is counted before its reply is built; take it back out.
        server_requests: get(&after, "requests").saturating_sub(get(&before, "requests") + 1),
    });
    Ok(report)
}
