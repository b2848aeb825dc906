//! `nines`: the command line. Parses flags, runs the library, and writes the one result value
//! every command produces or reads.
//!
//! Exit status: 0 the run completed and measured replies (and passed its `--slo`); 1 it could
//! not start, was cut short (Ctrl-C, `--max-errors`, every connection lost, no reply measured)
//! or a file (or stdout) could not take its result — the figures measured until then are still
//! printed and written, a file that failed kept in the temporary directory; 2 bad usage (an
//! output directory that cannot be written in included); 3 the run completed but a `--slo`
//! clause failed.

#![warn(clippy::too_many_lines)]

mod cli;
mod commands;
mod console;
mod exit;
mod fallback;
mod flags;
mod output;
mod progress;
mod stream;

use std::process::ExitCode;

use cli::{Cli, Command};
use commands::bench::Mode;
use nines_common::usage::parse_or_exit;

fn main() -> ExitCode {
    nines_common::usage::init_logging("warn");
    let cli: Cli = parse_or_exit();
    match cli.command {
        Command::Bench(a) => commands::bench::bench(&a, Mode::Bench),
        Command::Profile(a) => commands::bench::bench(&a, Mode::Profile),
        Command::Sweep(a) => commands::sweep::sweep(&a),
        Command::Storm(a) => commands::storm::storm(&a),
        Command::Merge(a) => commands::results::merge_cmd(&a),
        Command::Report(a) => commands::results::report(&a),
        Command::Compare(a) => commands::results::compare(&a),
        Command::Hostile(a) => commands::hostile::hostile(&a),
        Command::Node(a) => commands::node::node(&a),
    }
}
