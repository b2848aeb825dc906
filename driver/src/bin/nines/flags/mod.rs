//! The command line's flags, each defined once in a group (`#[derive(Args)]`) that every command
//! taking it flattens in: where to connect and how ([`target`]), how load is applied ([`load`]),
//! what each request is ([`request`]), TLS ([`tls`]), and where results go ([`output`]).
//!
//! Flags are read in two steps (parse, then build): a group turns what was given into the
//! library's configuration values, applying `config::defaults` for what was not, and refuses a
//! flag that does not fit (a `--method` for a redis:// target, a `--seed` without `--rate`) with
//! one line naming it. Bounds are then checked once by the library (`BenchConfig::validate`).

use nines_common::usage::UsageError;

pub mod load;
pub mod output;
mod refusal;
pub mod request;
pub mod session;
pub mod target;
pub mod tls;

/// The flags of `given` that were given, each refused for `why`.
pub fn refuse_given(given: &[(&'static str, bool)], why: &str) -> Vec<UsageError> {
    given
        .iter()
        .filter(|(_, g)| *g)
        .map(|(flag, _)| UsageError::new(flag, why))
        .collect()
}

/// `TEXT [default: VALUE]`: help for a flag whose default is applied when it is built (so a
/// flag the user did not give can be told apart from one given at its default).
pub fn with_default(text: &str, value: impl std::fmt::Display) -> String {
    format!("{text} [default: {value}]")
}
