//! How large each request's payload is: one size (`--payload 64`), a uniform draw
//! (`--payload 64..4k`), or a draw from an empirical list of sizes (`--payload-file`, one size a
//! line, e.g. taken from production logs). A size is drawn per request, when it is sent, from
//! the connection's seeded generator ([`crate::schedule::SplitMix64`]): the same seed gives
//! every connection the same sequence.
//!
//! A fixed size serializes as the number it always was (`"payload_bytes": 64`), so reports
//! from before sizes were drawn read the same.

use nines_common::units::{parse_bytes, ByteCount};
use serde::{Deserialize, Serialize};

use crate::schedule::SplitMix64;

/// Most sizes an empirical list may hold: a day of a busy service's log, sampled, is far less.
pub const MAX_EMPIRICAL_SIZES: usize = 1_000_000;

/// One payload size, or a distribution a size is drawn from per request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Payload {
    /// Always this many bytes.
    Fixed(usize),
    /// Uniformly from `min` to `max` bytes, both included.
    Uniform {
        /// Smallest size drawn.
        min: usize,
        /// Largest size drawn.
        max: usize,
    },
    /// One of these sizes, each line of the list equally likely (so sizes repeated in the
    /// list are drawn as often as they occur).
    Empirical {
        /// The sizes, as listed.
        sizes: Vec<usize>,
    },
}

impl Default for Payload {
    fn default() -> Self {
        Payload::Fixed(super::defaults::PAYLOAD_BYTES)
    }
}

impl From<usize> for Payload {
    fn from(n: usize) -> Payload {
        Payload::Fixed(n)
    }
}

impl Payload {
    /// The size, when it is always the same.
    pub fn fixed(&self) -> Option<usize> {
        match self {
            Payload::Fixed(n) => Some(*n),
            _ => None,
        }
    }

    /// The smallest size it can take.
    pub fn min(&self) -> usize {
        match self {
            Payload::Fixed(n) => *n,
            Payload::Uniform { min, .. } => *min,
            Payload::Empirical { sizes } => sizes.iter().copied().min().unwrap_or(0),
        }
    }

    /// The largest size it can take: what bounds buffers and bytes in flight.
    pub fn max(&self) -> usize {
        match self {
            Payload::Fixed(n) => *n,
            Payload::Uniform { max, .. } => *max,
            Payload::Empirical { sizes } => sizes.iter().copied().max().unwrap_or(0),
        }
    }

    /// The mean size drawn.
    pub fn mean(&self) -> f64 {
        match self {
            Payload::Fixed(n) => *n as f64,
            Payload::Uniform { min, max } => (*min as f64 + *max as f64) / 2.0,
            Payload::Empirical { sizes } => {
                sizes.iter().map(|&s| s as f64).sum::<f64>() / sizes.len().max(1) as f64
            }
        }
    }

    /// A size for one request.
    #[inline]
    pub fn draw(&self, rng: &mut SplitMix64) -> usize {
        match self {
            Payload::Fixed(n) => *n,
            Payload::Uniform { min, max } => min + below(rng.next_u64(), (max - min) as u64 + 1),
            Payload::Empirical { sizes } => sizes[below(rng.next_u64(), sizes.len() as u64)],
        }
    }

    /// In words: `64 B`, `64 B..4KiB`, `1,000 sizes, 12 B..9KiB (mean 310 B)`.
    pub fn describe(&self) -> String {
        match self {
            Payload::Fixed(n) => format!("{n} B"),
            Payload::Uniform { min, max } => format!("{}..{}", bytes(*min), bytes(*max)),
            Payload::Empirical { sizes } => format!(
                "{} sizes, {}..{} (mean {:.0} B)",
                nines_common::units::thousands(sizes.len() as u64),
                bytes(self.min()),
                bytes(self.max()),
                self.mean()
            ),
        }
    }

    /// Parses `--payload`: `SIZE` or `MIN..MAX` (`64`, `4k`, `64..4k`).
    pub fn parse(s: &str) -> Result<Payload, String> {
        let Some((lo, hi)) = s.split_once("..") else {
            return parse_bytes(s).map(Payload::Fixed);
        };
        let (min, max) = (parse_bytes(lo.trim())?, parse_bytes(hi.trim())?);
        match min.cmp(&max) {
            std::cmp::Ordering::Greater => Err(format!(
                "`{s}`: MIN is larger than MAX (write MIN..MAX, e.g. 64..4k)"
            )),
            std::cmp::Ordering::Equal => Ok(Payload::Fixed(min)),
            std::cmp::Ordering::Less => Ok(Payload::Uniform { min, max }),
        }
    }

    /// Parses a `--payload-file`'s text: one size a line (`512`, `4k`), blank lines and `#`
    /// comments skipped. Errors name the line.
    pub fn parse_list(text: &str) -> Result<Payload, String> {
        let mut sizes = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let n = parse_bytes(line).map_err(|e| format!("line {}: {e}", i + 1))?;
            if sizes.len() == MAX_EMPIRICAL_SIZES {
                return Err(format!(
                    "more than {} sizes; sample the log down",
                    nines_common::units::thousands(MAX_EMPIRICAL_SIZES as u64)
                ));
            }
            sizes.push(n);
        }
        if sizes.is_empty() {
            return Err("no sizes in it (one size a line, e.g. 512 or 4k)".to_string());
        }
        Ok(Payload::Empirical { sizes })
    }
}

/// `x` (uniform over u64) scaled to `0..n`: a multiply, not a division (Lemire's method;
/// the bias is below n / 2^64).
#[inline]
pub(crate) fn below(x: u64, n: u64) -> usize {
    ((u128::from(x) * u128::from(n)) >> 64) as usize
}

/// A byte count in words: `64 B`, `4KiB`.
fn bytes(n: usize) -> String {
    let s = ByteCount(n).to_string();
    if s.ends_with('B') {
        s
    } else {
        format!("{s} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_bad_ones_say_why() {
        assert_eq!(Payload::parse("64").unwrap(), Payload::Fixed(64));
        assert_eq!(
            Payload::parse("64..4k").unwrap(),
            Payload::Uniform { min: 64, max: 4096 }
        );
        assert_eq!(Payload::parse("8..8").unwrap(), Payload::Fixed(8));
        assert!(Payload::parse("4k..64")
            .unwrap_err()
            .contains("MIN is larger"));
        assert!(Payload::parse("x..64").is_err());
        let list = Payload::parse_list("# sizes\n100\n\n300 # big\n").unwrap();
        assert_eq!((list.min(), list.max(), list.mean()), (100, 300, 200.0));
        assert!(Payload::parse_list("# none\n").is_err());
        assert!(Payload::parse_list("1\nten\n")
            .unwrap_err()
            .starts_with("line 2"));
    }

    #[test]
    fn draws_stay_in_range_with_the_right_mean_and_repeat_with_the_seed() {
        let u = Payload::Uniform { min: 10, max: 20 };
        let mut rng = SplitMix64::new(7);
        let draws: Vec<usize> = (0..100_000).map(|_| u.draw(&mut rng)).collect();
        assert!(draws.iter().all(|d| (10..=20).contains(d)));
        assert!(draws.contains(&10) && draws.contains(&20));
        let mean = draws.iter().sum::<usize>() as f64 / draws.len() as f64;
        assert!((mean - 15.0).abs() < 0.05, "{mean}");
        let mut again = SplitMix64::new(7);
        assert!(draws[..100].iter().all(|&d| d == u.draw(&mut again)));
        let e = Payload::parse_list("1\n1\n1\n9\n").unwrap();
        let ones = (0..40_000).filter(|_| e.draw(&mut rng) == 1).count();
        assert!((ones as f64 / 40_000.0 - 0.75).abs() < 0.01, "{ones}");
    }

    #[test]
    fn a_fixed_size_serializes_as_the_number_it_always_was() {
        assert_eq!(serde_json::to_value(Payload::Fixed(64)).unwrap(), 64);
        let u = Payload::Uniform { min: 1, max: 2 };
        let v = serde_json::to_value(&u).unwrap();
        assert_eq!(serde_json::from_value::<Payload>(v).unwrap(), u);
        let e = Payload::parse_list("3\n4").unwrap();
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["sizes"], serde_json::json!([3, 4]));
        assert_eq!(serde_json::from_value::<Payload>(v).unwrap(), e);
    }
}
