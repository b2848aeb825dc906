//! The descriptor limit and the connections it leaves room for. Every connection is a
//! descriptor of the driver (and of this process again when the server is embedded), so a run
//! asking for more than the limit holds is refused before it starts, naming the limit and what
//! to do: raise it, or spread a storm over driver processes, each with a limit of its own.

use nines_common::units::thousands;
use nines_common::usage::UsageError;

use super::defaults::MAX_STORM_PROCESSES;
use super::{BenchConfig, Load, Target};

/// Descriptors the driver needs besides its connections (stdio, epoll, files it writes).
const RESERVED_FDS: u64 = 64;

/// What the host allows: the caller reads it (`run::limits`), so configuration stays data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Descriptors this process may have open (RLIMIT_NOFILE soft limit).
    pub nofile: u64,
    /// The RLIMIT_NOFILE hard limit (what `ulimit -n` may be raised to).
    pub nofile_hard: u64,
    /// Now, seconds since the Unix epoch (for `--start-at`).
    pub now_unix_s: f64,
}

impl BenchConfig {
    /// Most connections the descriptor limit leaves room for in one process.
    pub fn max_connections(&self, limits: &Limits) -> u64 {
        match self.target {
            // The embedded server's side of each connection is a descriptor of this process too.
            Target::Embedded { server_workers } => {
                limits
                    .nofile
                    .saturating_sub(self.driver_reserve() + server_reserve(server_workers))
                    / 2
            }
            Target::Address(_) => self.driver_side_max(limits),
        }
    }

    /// Checks `--connections` against the descriptor limit, the run spread over `processes`
    /// driver processes (a storm's `--processes`; 1 for every other run).
    pub(super) fn check_descriptors(
        &self,
        limits: &Limits,
        processes: usize,
        e: &mut Vec<UsageError>,
    ) {
        let c = self.connections as u64;
        let processes = processes.max(1) as u64;
        if c == 0 || processes == 1 {
            let max = self.max_connections(limits);
            if c == 0 || c > max {
                let why = if c == 0 {
                    String::new()
                } else {
                    self.descriptor_reason(limits)
                };
                e.push(UsageError::range(
                    "--connections",
                    c,
                    1,
                    thousands(max),
                    &why,
                ));
            }
            return;
        }
        // Spread: each child holds its share as an address target; an embedded server holds
        // every connection in this process.
        let share = c.div_ceil(processes);
        let child_max = self.driver_side_max(limits);
        if share > child_max {
            e.push(UsageError::new(
                "--connections",
                format!(
                    "{}: {} per process over {processes} processes, where one process holds {} ({}); {}",
                    thousands(c),
                    thousands(share),
                    thousands(child_max),
                    limit_named(limits),
                    self.spread_advice(limits)
                ),
            ));
        }
        if let Target::Embedded { server_workers } = self.target {
            let server_max = server_max(limits, server_workers);
            if c > server_max {
                e.push(UsageError::range(
                    "--connections",
                    c,
                    1,
                    thousands(server_max),
                    &format!(
                        "the embedded server holds every connection in this process ({}); storm a nines-server started on its own",
                        limit_named(limits)
                    ),
                ));
            }
        }
    }

    /// `give --processes K`, the fewest that hold the connections, or the machines to spread
    /// over when more are needed than nines starts.
    fn spread_advice(&self, limits: &Limits) -> String {
        let k = (self.connections as u64)
            .div_ceil(self.driver_side_max(limits).max(1))
            .max(2);
        if k <= MAX_STORM_PROCESSES as u64 {
            format!("give --processes {k}")
        } else {
            format!(
                "that takes {k} processes, more than the {MAX_STORM_PROCESSES} --processes starts: raise the limit or spread over machines"
            )
        }
    }

    /// Most connections one process holds when the server is elsewhere.
    fn driver_side_max(&self, limits: &Limits) -> u64 {
        limits.nofile.saturating_sub(self.driver_reserve())
    }

    /// The driver's descriptors besides its connections.
    fn driver_reserve(&self) -> u64 {
        RESERVED_FDS.saturating_add(2u64.saturating_mul(self.threads as u64))
    }

    /// What each connection costs here, the limit, and what to do when it binds.
    fn descriptor_reason(&self, limits: &Limits) -> String {
        let each = if self.embedded() {
            "each connection takes two descriptors here, the driver's and the embedded server's"
        } else {
            "each connection is a descriptor"
        };
        let todo = if limits.nofile < limits.nofile_hard {
            format!("raise it with `ulimit -n {}`", limits.nofile_hard)
        } else if let Load::Storm(_) = self.load {
            let server_holds = match self.target {
                Target::Embedded { server_workers } => {
                    server_max(limits, server_workers) >= self.connections as u64
                }
                Target::Address(_) => true,
            };
            if server_holds {
                format!(
                    "the hard limit binds: spread the storm over driver processes ({})",
                    self.spread_advice(limits)
                )
            } else {
                format!("the hard limit binds: storm a nines-server started on its own (an embedded one holds every connection in this process), over driver processes ({})", self.spread_advice(limits))
            }
        } else {
            "the hard limit binds: run several driver processes or machines".to_string()
        };
        format!(
            "{each}, and this process may open {} ({}); {todo}",
            thousands(limits.nofile),
            limit_named(limits)
        )
    }
}

/// `ulimit -n; hard limit 20,000`.
fn limit_named(limits: &Limits) -> String {
    format!("ulimit -n; hard limit {}", thousands(limits.nofile_hard))
}

/// Most connections an embedded server holds when the driver's side is in other processes.
fn server_max(limits: &Limits, workers: usize) -> u64 {
    limits
        .nofile
        .saturating_sub(RESERVED_FDS.saturating_add(server_reserve(workers)))
}

/// The embedded server's descriptors besides its connections (its epoll instances, wakers and
/// listener).
fn server_reserve(workers: usize) -> u64 {
    4u64.saturating_mul(workers as u64)
}
