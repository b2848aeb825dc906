//! Where to connect and how: the target, driver threads, connections, timeouts, source
//! addresses, a start time, and the embedded server's workers.

use std::time::Duration;

use clap::Args;
use nines_common::units::HumanDuration;
use nines_common::usage::UsageError;
use nines_driver::config::{defaults, parse_start_at, BenchConfig, Load, Requests, Target};

use super::tls::TlsFlags;
use super::with_default;

/// Where to connect and how.
#[derive(Args, Debug)]
pub struct TargetFlags {
    /// Server to load: host:port (nines or --protocol echo; host alone means port 9999), or
    /// http://host:port/path, ws://host:port/path, redis://host:port. Omit to embed a server.
    pub target: Option<String>,
    /// Driver threads, each with its own event loop [default: CPUs, or half of them when the
    /// server is embedded].
    #[arg(short, long)]
    pub threads: Option<usize>,
    #[arg(short, long, value_parser = Levels::parse, help = with_default(
        "Connections, spread over the threads (sweep: a list of levels, e.g. 1,8,64,512)",
        defaults::CONNECTIONS,
    ))]
    pub connections: Option<Levels>,
    #[arg(long, help = with_default(
        "How long connecting (and a WebSocket handshake) may take",
        HumanDuration(defaults::CONNECT_TIMEOUT),
    ))]
    pub connect_timeout: Option<HumanDuration>,
    /// A request unanswered this long counts as an error (timeout) and frees its slot; in open
    /// loop, a request still unsent this long after it was due counts as unsent.
    #[arg(long, default_value_t = HumanDuration(defaults::REQUEST_TIMEOUT))]
    pub timeout: HumanDuration,
    /// How long to wait for replies in flight when the measurement ends.
    #[arg(long, default_value_t = HumanDuration(defaults::DRAIN_TIMEOUT))]
    pub drain_timeout: HumanDuration,
    /// Worker threads of the embedded server (only without TARGET) [default: half the CPUs].
    #[arg(long)]
    pub server_workers: Option<usize>,
    /// Start the load at this time, after connecting: seconds since the epoch (as `date +%s`
    /// prints) or +DURATION; lets drivers on several machines start together.
    #[arg(long, value_parser = parse_start_at)]
    pub start_at: Option<f64>,
    /// Connect from these local addresses in turn: addresses and IPv4 ranges,
    /// comma-separated (127.0.0.2-127.0.0.50), for more connections than one address has
    /// ephemeral ports.
    #[arg(long, value_name = "ADDRS", value_parser = Sources::parse)]
    pub source: Option<Sources>,
    #[command(flatten)]
    pub tls: TlsFlags,
}

/// Per-command defaults of the flags whose default differs between commands.
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    /// Connections when `-c` is not given.
    pub connections: usize,
    /// `--connect-timeout` when not given.
    pub connect_timeout: Duration,
}

/// `nines bench`'s, `profile`'s and `sweep`'s.
pub const BENCH: Defaults = Defaults {
    connections: defaults::CONNECTIONS,
    connect_timeout: defaults::CONNECT_TIMEOUT,
};

/// `nines storm`'s.
pub const STORM: Defaults = Defaults {
    connections: defaults::STORM_CONNECTIONS,
    connect_timeout: defaults::STORM_CONNECT_TIMEOUT,
};

impl TargetFlags {
    /// The connection levels given (one number for bench and storm, a list for sweep).
    pub fn levels(&self, d: Defaults) -> Vec<usize> {
        self.connections
            .clone()
            .map_or_else(|| vec![d.connections], |l| l.0)
    }

    /// One number of connections: refused when a list was given.
    pub fn one_level(&self, d: Defaults) -> Result<usize, UsageError> {
        match self.levels(d).as_slice() {
            [one] => Ok(*one),
            _ => Err(UsageError::new(
                "--connections",
                format!(
                    "{}: takes one number here; `nines sweep` takes a list",
                    self.connections
                        .as_ref()
                        .map_or(String::new(), ToString::to_string)
                ),
            )),
        }
    }

    /// A run of `load` sending `request` over `connections`, as these flags say.
    pub fn config(
        &self,
        d: Defaults,
        connections: usize,
        load: Load,
        request: Requests,
    ) -> Result<BenchConfig, UsageError> {
        let target = match (&self.target, self.server_workers) {
            (Some(_), Some(_)) => {
                return Err(UsageError::new(
                    "--server-workers",
                    "applies to the embedded server (no TARGET), not to a server elsewhere",
                ))
            }
            (Some(t), None) => Target::Address(t.clone()),
            (None, workers) => Target::Embedded {
                server_workers: workers.unwrap_or_else(defaults::server_workers),
            },
        };
        if self.source.is_some() && !matches!(load, Load::Storm(_)) {
            return Err(UsageError::new(
                "--source",
                "is for `nines storm`, whose connections can outnumber one address's ports; this run connects from the address the kernel picks",
            ));
        }
        let embedded = matches!(target, Target::Embedded { .. });
        let tls = self
            .tls
            .options(self.target.as_deref())
            .map_err(|mut e| e.remove(0))?;
        Ok(BenchConfig {
            target,
            threads: self.threads.unwrap_or_else(|| defaults::threads(embedded)),
            connections,
            load,
            request,
            connect_timeout: self.connect_timeout.map_or(d.connect_timeout, |t| t.0),
            request_timeout: self.timeout.0,
            drain_timeout: self.drain_timeout.0,
            start_at_unix_s: self.start_at,
            source_addrs: self.source.clone().map(|s| s.0).unwrap_or_default(),
            tls,
            // Set by the output flags (`--flame`).
            flame: None,
        })
    }
}

/// Connection levels: one number, or (sweep) several, comma-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Levels(pub Vec<usize>);

impl Levels {
    fn parse(s: &str) -> Result<Levels, String> {
        let v: Result<Vec<usize>, _> = s.split(',').map(|p| p.trim().parse::<usize>()).collect();
        match v {
            Ok(v) if !v.is_empty() => Ok(Levels(v)),
            _ => Err(format!(
                "`{s}` is not a number of connections (or, for sweep, a list: 1,8,64)"
            )),
        }
    }
}

impl std::fmt::Display for Levels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&s.join(","))
    }
}

/// Local addresses from `--source` (a newtype: one value holding a list).
#[derive(Debug, Clone)]
pub struct Sources(pub Vec<std::net::IpAddr>);

impl Sources {
    fn parse(s: &str) -> Result<Sources, String> {
        nines_driver::engine::socket::parse_sources(s).map(Sources)
    }
}
