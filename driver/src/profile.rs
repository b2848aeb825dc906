//! `nines profile`: where a nines-server's time goes under load.
//!
//! Reads the server's counters (the Stats op) before and after a short run and turns the
//! difference in its phase clocks into shares of accept, read, process, write and overhead that
//! sum to 100, naming the largest as the bottleneck. The load is an ordinary bench run, so every
//! bench option applies, and the result is that run's [`Report`] with its `profile` filled in.

use nines_protocol::stats::Profile;

use crate::config::{BenchConfig, RequestSpec, Target};
use crate::report::{ProfileSummary, Report};
use crate::run::stats::{fetch, StatsError};
use crate::run::{resolve, run, start_embedded, Hooks, RunError};

/// Why a profile could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The load run could not start.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The server's counters could not be read.
    #[error(transparent)]
    Stats(#[from] StatsError),
    /// The server recorded no time (no load reached it).
    #[error("the server recorded no work during the run; nothing to profile")]
    Empty,
}

/// Runs `cfg` as load and profiles the server it loads (embedding one if `cfg.target` is None).
pub fn profile(cfg: &BenchConfig, hooks: &mut Hooks<'_>) -> Result<Report, ProfileError> {
    if !matches!(cfg.request.first(), RequestSpec::Nines(_)) {
        return Err(RunError::Usage(vec![nines_common::usage::UsageError::new(
            "--protocol",
            format!(
                "{}: profile needs the nines protocol (the Stats op reads the server's clocks)",
                cfg.request.protocol()
            ),
        )])
        .into());
    }
    let usage = crate::run::validate(cfg);
    if !usage.is_empty() {
        return Err(RunError::Usage(usage).into());
    }
    let mut cfg = cfg.clone();
    // The embedded server must outlive the run so its counters can be read afterwards.
    let (addr, embedded) = match &cfg.target {
        Target::Address(t) => (resolve(t)?, None),
        Target::Embedded { server_workers } => {
            let s = start_embedded(cfg.request.first(), *server_workers)?;
            cfg.target = Target::Address(s.local_addr().to_string());
            (s.local_addr(), Some(s))
        }
    };
    let tls = crate::run::tls_client(&cfg, addr)?;
    let before = fetch(addr, tls.as_deref(), cfg.connect_timeout)?;
    let mut report = run(&cfg, hooks)?;
    let after = fetch(addr, tls.as_deref(), cfg.connect_timeout)?;
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
