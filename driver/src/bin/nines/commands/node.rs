//! `nines node`: the benchmark-node interface on stdin/stdout (the library's `node` module).
//! Here only what belongs to the process: its flags and descriptors.

use std::process::ExitCode;

use clap::Args;
use nines_common::units::HumanDuration;
use nines_common::usage::{exit_with, UsageError};
use nines_driver::config::defaults;

/// `nines node`.
#[derive(Args, Debug)]
pub struct NodeArgs {
    /// Longest one request's load may run; a run still going then stops, and its reply (an
    /// error, code 0) says how far it got. The default keeps every reply inside the seed
    /// harness's 5 s.
    #[arg(long, value_name = "DURATION", default_value_t = HumanDuration(defaults::NODE_RUN_BOUND))]
    pub run_bound: HumanDuration,
}

/// Serves lines until EOF on stdin.
pub fn node(a: &NodeArgs) -> ExitCode {
    if a.run_bound.0.is_zero() {
        let why = format!(
            "{}: a run needs some time (the default is {})",
            a.run_bound,
            HumanDuration(defaults::NODE_RUN_BOUND)
        );
        exit_with(&[UsageError::new("--run-bound", why)]);
    }
    crate::exit::raise_nofile();
    let mut node = nines_driver::node::Node::new().with_run_bound(a.run_bound.0);
    match node.serve(
        std::io::stdin().lock(),
        std::io::stdout().lock(),
        std::io::stderr(),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        // The harness went away: nothing left to answer.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => crate::exit::fail(&e),
    }
}
