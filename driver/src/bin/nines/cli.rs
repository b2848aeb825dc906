//! The command line: one subcommand per command, each with its flag groups.

use clap::{Parser, Subcommand};

use crate::commands::bench::BenchArgs;
use crate::commands::hostile::HostileArgs;
use crate::commands::node::NodeArgs;
use crate::commands::results::{CompareArgs, MergeArgs, ReportArgs};
use crate::commands::storm::StormArgs;
use crate::commands::sweep::SweepArgs;

/// nines: measure TCP servers honestly, down to p99.99.
#[derive(Parser, Debug)]
#[command(name = "nines", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Load a server and report throughput and latency percentiles.
    ///
    /// Without TARGET, starts nines-server in-process on 127.0.0.1 and loads that.
    /// With --rate, load is open loop and latency is corrected for coordinated omission.
    Bench(Box<BenchArgs>),
    /// Load a nines-server briefly and show where its time goes: accept, read, process, write,
    /// overhead (from its phase counters, read before and after with the Stats op).
    ///
    /// Takes every bench option. Without TARGET, profiles an embedded server.
    Profile(Box<BenchArgs>),
    /// Find the knee: one closed-loop step per --connections level, then (with --rates) a short
    /// closed-loop run for the peak and one open-loop step per rate level; a table as steps
    /// finish, and the highest load whose p99 held.
    ///
    /// Takes every bench option; each step has its own warm-up and duration.
    Sweep(Box<SweepArgs>),
    /// Open connections at a steady rate up to --connections and hold them, each sending a
    /// timestamped message every --interval that the server echoes (the C10K test); reports
    /// connect and echo latency, failures by errno, losses, crashes and memory per connection.
    Storm(Box<StormArgs>),
    /// Add results from several driver processes or machines into one true distribution.
    ///
    /// Takes JSON results (`--json`) and HdrHistogram interval logs (`--hlog`). Histograms are
    /// added count by count, so the merged percentiles are true percentiles of every request,
    /// never averages of each part's percentiles.
    Merge(MergeArgs),
    /// Results side by side, the first as the baseline: throughput and every percentile with
    /// its relative change; with --repeat N, groups of N runs each, medians and spreads, and
    /// which changes are beyond run-to-run noise (exact Mann–Whitney U test, p < 0.05).
    Compare(CompareArgs),
    /// Print a saved result again, in any format.
    Report(ReportArgs),
    /// Misbehave at a server on purpose (idle, slowloris, never-reading or connect-and-drop
    /// clients) and report how it dealt with them; see docs/limits.md.
    Hostile(HostileArgs),
    /// Serve the JSON-lines benchmark node protocol on stdin/stdout (init, bench_run,
    /// bench_profile, bench_sweep); logs go to stderr. See docs/node.md.
    Node(NodeArgs),
}

#[cfg(test)]
mod tests {
    use nines_driver::config::{defaults, BenchConfig};

    use super::*;

    #[test]
    fn flags_left_out_give_the_library_defaults() {
        let cli = Cli::try_parse_from(["nines", "bench"]).unwrap();
        let Command::Bench(a) = cli.command else {
            panic!("bench")
        };
        assert_eq!(
            a.config(defaults::DURATION).unwrap(),
            BenchConfig::default()
        );
    }

    #[test]
    fn the_cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
