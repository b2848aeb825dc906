//! `nines hostile`: clients that misbehave on purpose, and how the server dealt with them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use nines_common::units::{parse_rate, HumanDuration};
use nines_common::usage::{exit_with, UsageError};
use nines_driver::config::defaults;
use nines_driver::hostile;

use crate::console;
use crate::exit::{fail, interrupt_on_signals, raise_nofile};
use crate::flags::output::{check_file, is_stdout};

/// `nines hostile`.
#[derive(Args, Debug)]
pub struct HostileArgs {
    /// Server to pester, as host:port.
    pub target: String,
    /// How the clients misbehave.
    #[arg(long, value_enum)]
    pub mode: hostile::Mode,
    /// Connections kept open (replaced when the server closes them).
    #[arg(short, long, default_value_t = defaults::HOSTILE_CONNECTIONS)]
    pub connections: usize,
    /// connect-drop: connections opened and closed per second.
    #[arg(short = 'R', long, default_value_t = defaults::HOSTILE_RATE, value_parser = parse_rate)]
    pub rate: f64,
    /// How long.
    #[arg(short, long, default_value_t = HumanDuration(defaults::HOSTILE_DURATION))]
    pub duration: HumanDuration,
    /// Write the summary as JSON to FILE, or to stdout with `-`.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// `nines hostile`.
pub fn hostile(a: &HostileArgs) -> ExitCode {
    if let Some(p) = a.json.as_deref().filter(|p| !is_stdout(p)) {
        if let Err(why) = check_file(p) {
            exit_with(&[UsageError::new("--json", why)]);
        }
    }
    let target = match nines_driver::run::resolve(&a.target) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let cfg = hostile::HostileConfig {
        target,
        mode: a.mode,
        connections: a.connections,
        rate_per_s: a.rate,
        duration: a.duration.0,
    };
    raise_nofile();
    let stop = interrupt_on_signals();
    let report = hostile::run(&cfg, &stop, |n| {
        // Scripts wait for this line before loading the server beside the hostile clients.
        console::line(format_args!("nines hostile: {n} connections open"));
    });
    let text = hostile::render(&cfg, &report);
    let json = serde_json::to_string_pretty(&report).expect("report serializes") + "\n";
    let ok = match a.json.as_deref() {
        Some(p) if is_stdout(p) => {
            console::err(&text);
            crate::output::json_to_stdout(&json)
        }
        Some(p) => {
            let printed = console::print(&text, "the summary");
            crate::fallback::write_file(p, &json, "json") && printed
        }
        None => console::print(&text, "the summary"),
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
