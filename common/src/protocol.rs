//! The wire protocols nines speaks, named once for flags, `--help`, reports and error messages.

use serde::{Deserialize, Serialize};

/// A wire protocol: what nines-server serves on every connection, and what the driver speaks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// nines frames: ids, intended send times and server residence times on every request.
    #[default]
    Nines,
    /// Plain byte echo: whatever is sent comes back, as any echo server does.
    Echo,
}

crate::value_enum_display!(Protocol);

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn names_are_the_same_everywhere() {
        for p in Protocol::value_variants() {
            let name = p.to_string();
            assert_eq!(Protocol::from_str(&name, false), Ok(*p));
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::Value::String(name.clone()),
                "the report spells it as the flag does"
            );
            assert_eq!(name.parse::<Protocol>(), Ok(*p));
        }
        assert_eq!(Protocol::Nines.to_string(), "nines");
        assert!("gopher"
            .parse::<Protocol>()
            .unwrap_err()
            .contains("nines, echo"));
    }
}
