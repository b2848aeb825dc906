//! A storm's sessions (connect churn at a steady population) and how its clients space their
//! messages: `nines storm` flags only; `nines bench` has none of them.

use clap::Args;
use nines_common::units::HumanDuration;
use nines_common::usage::UsageError;
use nines_driver::config::{defaults, Session};
use nines_driver::schedule::Arrival;

use super::with_default;

/// How long each storm client stays connected, and how it spaces its messages.
#[derive(Args, Debug)]
#[command(next_help_heading = "Sessions")]
pub struct SessionFlags {
    /// A client closes once it has sent N messages and their replies are in, and a new one
    /// connects in its place at once (not paced by --connect-rate): connect churn at a steady
    /// population. Each close leaves this side's local port in TIME_WAIT for a minute: many
    /// short sessions to a remote server can run out of ports (EADDRNOTAVAIL); add --source
    /// addresses or enable net.ipv4.tcp_tw_reuse.
    #[arg(long, value_name = "N")]
    pub session_messages: Option<u64>,
    /// A client closes this long after it connected (it sends nothing after that, and closes
    /// once the replies in flight are in), and a new one connects in its place; with
    /// --session-messages, whichever comes first.
    #[arg(long, value_name = "DURATION")]
    pub session_duration: Option<HumanDuration>,
    #[arg(long, value_enum, hide_possible_values = true, help = with_default(
        "How a client spaces its messages: constant (every --interval) or poisson (exponential gaps with --interval as their mean, drawn per connection from --seed)",
        Arrival::default(),
    ))]
    pub think: Option<Arrival>,
    #[arg(long, help = with_default(
        "Seed of the poisson gaps (each connection draws its own): the same seed gives each connection the same gaps again",
        defaults::SEED,
    ))]
    pub seed: Option<u64>,
}

impl SessionFlags {
    /// The session given (none: connections are held), the spacing and its seed.
    pub fn get(&self) -> Result<(Option<Session>, Arrival, u64), Vec<UsageError>> {
        let think = self.think.unwrap_or_default();
        if self.seed.is_some() && think != Arrival::Poisson {
            return Err(vec![UsageError::new(
                "--seed",
                "applies to --think poisson (constant gaps have nothing to seed)",
            )]);
        }
        let session = Session::new(self.session_messages, self.session_duration.map(|d| d.0));
        Ok((session, think, self.seed.unwrap_or(defaults::SEED)))
    }
}
