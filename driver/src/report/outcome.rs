//! How a run ended: completed, or cut short and why.

use nines_common::units::thousands;
use serde::{Deserialize, Serialize};

use super::resources::{fd_rate_text, rss_rate_text, Leak};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// A clause of `--slo` on the target's growth was passed for certain: the growth fitted so
    /// far is past its limit, steadily (r² at least 0.9 over at least 10 seconds), so the run
    /// stops rather than measure a leak for its whole length. The SLO then fails as usual.
    GrowthSlo {
        /// The clause, as written: `rss_growth<=10MB/min`.
        clause: String,
        /// What grew.
        grew: Leak,
        /// Its growth per second when the run stopped (bytes, or descriptors).
        per_s: f64,
        /// How steadily (r² of the fit).
        r2: f64,
        /// Seconds of measurement when the run stopped.
        after_s: f64,
    },
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
            CutShort::GrowthSlo {
                clause,
                grew,
                per_s,
                r2,
                after_s,
            } => {
                let rate = match grew {
                    Leak::Memory => rss_rate_text(*per_s),
                    Leak::Descriptors => fd_rate_text(*per_s),
                };
                write!(
                    f,
                    "growth SLO {clause} passed: {rate} (r² {r2:.2}) after {after_s:.0} s"
                )
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A growth stop says its clause, rate, r² and when, and round-trips through JSON by its kind.
    #[test]
    fn a_growth_stop_says_the_clause_the_rate_and_when() {
        let stop = CutShort::GrowthSlo {
            clause: "rss_growth<=10MB/min".into(),
            grew: Leak::Memory,
            per_s: 118.0 * 1_048_576.0 / 60.0,
            r2: 0.991,
            after_s: 12.0,
        };
        assert_eq!(
            stop.to_string(),
            "growth SLO rss_growth<=10MB/min passed: +118.0 MiB/min (r² 0.99) after 12 s"
        );
        let json = serde_json::to_value(Outcome::CutShort(stop.clone())).unwrap();
        assert_eq!(json["status"], "cut_short");
        assert_eq!(json["cut_short"]["kind"], "growth_slo");
        assert_eq!(json["cut_short"]["grew"], "memory");
        assert_eq!(
            serde_json::from_value::<Outcome>(json).unwrap(),
            Outcome::CutShort(stop)
        );
        let fds = CutShort::GrowthSlo {
            clause: "fd_growth<=0".into(),
            grew: Leak::Descriptors,
            per_s: 2.0,
            r2: 1.0,
            after_s: 10.4,
        };
        assert_eq!(
            fds.to_string(),
            "growth SLO fd_growth<=0 passed: +120/min (r² 1.00) after 10 s"
        );
    }
}
