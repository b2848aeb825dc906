//! A binary's edge. Usage errors: a flag value nines refuses, said in one line that names the
//! flag and what it accepts, and exit status 2 (the convention ripgrep and the BSD tools
//! follow). Logging is set up here too, once per binary.
//!
//! Command-line parsing has two stages (flags, then validation of the whole configuration) and
//! both end here: clap's own errors are folded to one line by [`parse_or_exit`], and a
//! configuration's bounds are checked into [`UsageError`]s that the binary prints the same way.

use std::fmt;

/// Exit status for bad usage.
pub const EXIT_USAGE: u8 = 2;

/// One refused setting: which flag, and why, with the range it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    /// The flag as a user types it (`--connections`).
    pub flag: &'static str,
    /// What is wrong and what is allowed; read after the flag.
    pub message: String,
}

impl UsageError {
    /// `flag` followed by `message`.
    pub fn new(flag: &'static str, message: impl Into<String>) -> UsageError {
        UsageError {
            flag,
            message: message.into(),
        }
    }

    /// `--flag VALUE is out of range: allowed LO to HI (why)`.
    pub fn range(
        flag: &'static str,
        value: impl fmt::Display,
        lo: impl fmt::Display,
        hi: impl fmt::Display,
        why: &str,
    ) -> UsageError {
        let message = format!(
            "{value} is out of range: allowed {lo} to {hi}{}",
            reason(why)
        );
        UsageError::new(flag, message)
    }

    /// `--flag VALUE is out of range: allowed LO or more (why)`.
    pub fn at_least(
        flag: &'static str,
        value: impl fmt::Display,
        lo: impl fmt::Display,
        why: &str,
    ) -> UsageError {
        let message = format!(
            "{value} is out of range: allowed {lo} or more{}",
            reason(why)
        );
        UsageError::new(flag, message)
    }
}

/// ` (why)`, or nothing.
fn reason(why: &str) -> String {
    if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    }
}

/// Adds a [`UsageError::range`] to `errors` unless `value` is within `lo..=hi`.
pub fn check_range<T: PartialOrd + fmt::Display>(
    errors: &mut Vec<UsageError>,
    flag: &'static str,
    value: T,
    (lo, hi): (T, T),
    why: &str,
) {
    if !(lo <= value && value <= hi) {
        errors.push(UsageError::range(flag, value, lo, hi, why));
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.flag, self.message)
    }
}

impl std::error::Error for UsageError {}

/// Sends `tracing` events to stderr at `default_level` (`RUST_LOG` overrides it): binaries call
/// this once; libraries only emit events.
pub fn init_logging(default_level: &str) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_level.into()),
        )
        .init();
}

/// Prints each error as one `error: ...` line on stderr and exits with status 2.
pub fn exit_with(errors: &[UsageError]) -> ! {
    for e in errors {
        eprintln!("error: {e}");
    }
    std::process::exit(i32::from(EXIT_USAGE))
}

/// Parses the command line; help and version print as clap prints them, and any other error
/// is one line (clap's first line, plus its tip if it has one) and exit status 2.
pub fn parse_or_exit<T: clap::Parser>() -> T {
    use clap::error::ErrorKind;
    match T::try_parse() {
        Ok(t) => t,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            eprintln!("{}", one_line(&e.render().to_string()));
            std::process::exit(i32::from(EXIT_USAGE))
        }
    }
}

/// clap's error text folded to one line: the `error:` line, its possible values and any `tip:`
/// lines, without the usage block and the "For more information" line.
fn one_line(rendered: &str) -> String {
    // The error is its first line and the lines after it up to a blank one (the missing
    // arguments' names; a value that held a newline); then any tips.
    let mut lines = rendered.lines();
    let mut out = String::new();
    for l in lines
        .by_ref()
        .skip_while(|l| !l.trim_start().starts_with("error:"))
    {
        if l.trim().is_empty() {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(l.trim());
    }
    if out.is_empty() {
        out.push_str("error: bad usage");
    }
    for tip in lines
        .map(str::trim)
        .filter(|l| l.starts_with("tip:") || l.starts_with("[possible values"))
    {
        out.push_str("; ");
        out.push_str(tip);
    }
    out.push_str(" (--help lists every flag)");
    out
}

/// Implements `Display` (the flag spelling) and `FromStr` (accepting what the flag accepts) for
/// a `clap::ValueEnum`, so an enum's names are written down once, in its derive.
#[macro_export]
macro_rules! value_enum_display {
    ($t:ty) => {
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let v = ::clap::ValueEnum::to_possible_value(self)
                    .expect("no variant of a nines setting is hidden from clap");
                f.write_str(v.get_name())
            }
        }

        impl ::std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                <$t as ::clap::ValueEnum>::from_str(s, false).map_err(|_| {
                    let names: Vec<String> = <$t as ::clap::ValueEnum>::value_variants()
                        .iter()
                        .filter_map(::clap::ValueEnum::to_possible_value)
                        .map(|v| v.get_name().to_string())
                        .collect();
                    format!("unknown value `{s}` (expected {})", names.join(", "))
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_fold_to_one_line_with_their_tip() {
        let rendered = "error: unexpected argument '--conections' found\n\n  tip: a similar argument exists: '--connections'\n\nUsage: nines bench [OPTIONS] [TARGET]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(rendered),
            "error: unexpected argument '--conections' found; tip: a similar argument exists: '--connections' (--help lists every flag)"
        );
    }

    #[test]
    fn a_missing_argument_is_named() {
        let rendered = "error: the following required arguments were not provided:\n  <RESULT>...\n\nUsage: nines merge <RESULT>...\n";
        assert_eq!(
            one_line(rendered),
            "error: the following required arguments were not provided: <RESULT>... (--help lists every flag)"
        );
    }

    #[test]
    fn range_errors_name_the_flag_and_the_range() {
        let e = UsageError::range("--connections", 0, 1, "19,936", "the descriptor limit");
        assert_eq!(
            e.to_string(),
            "--connections 0 is out of range: allowed 1 to 19,936 (the descriptor limit)"
        );
    }
}
