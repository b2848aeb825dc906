//! How a run ended: completed, or cut short and why.

use nines_common::units::thousands;
use serde::{Deserialize, Serialize};

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", content = "cut_short", rename_all = "snake_case")]
pub enum Outcome {
    /// Ran as planned and measured replies.
    Completed,
    /// Stopped early, or measured nothing: the figures cover what was measured until then.
    CutShort(CutShort),
}

/// Why a run was cut short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CutShort {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// Errors reached `--max-errors`.
    ErrorLimit {
        /// Errors counted.
        errors: u64,
        /// The limit.
        max_errors: u64,
    },
    /// Every established connection was lost.
    ConnectionsLost {
        /// Connections lost.
        lost: u64,
    },
    /// No connection could be established.
    NoConnections {
        /// Connections tried.
        tried: u64,
    },
    /// The run went to its end without one measured reply.
    NoReplies,
    /// A merged part was cut short.
    PartCutShort {
        /// The part's file.
        file: String,
    },
    /// A process of a storm over processes ended without a result: the figures are the
    /// other processes'.
    PartLost {
        /// Which process: "storm process 2 of 4 (pid 1234)".
        part: String,
        /// How it ended: "killed by SIGKILL", "exit status 1".
        how: String,
    },
}

impl std::fmt::Display for CutShort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CutShort::Interrupted => f.write_str("interrupted"),
            CutShort::ErrorLimit { errors, max_errors } => write!(
                f,
                "error limit reached ({} errors, --max-errors {})",
                thousands(*errors),
                thousands(*max_errors)
            ),
            CutShort::ConnectionsLost { lost } => {
                write!(f, "every connection was lost ({})", thousands(*lost))
            }
            CutShort::NoConnections { tried } => {
                write!(
                    f,
                    "no connection could be established ({} tried)",
                    thousands(*tried)
                )
            }
            CutShort::NoReplies => f.write_str("no reply was measured"),
            CutShort::PartCutShort { file } => write!(f, "{file} was cut short"),
            CutShort::PartLost { part, how } => {
                write!(
                    f,
                    "{part} left no result ({how}); the figures are the others'"
                )
            }
        }
    }
}
