//! An open loop's rate: one rate throughout, or stages (`--stages 30s:1000,2m:10000,30s:0`),
//! each ramping linearly from the previous stage's rate (0 at the start) to its own over its
//! length, so a hold is two stages at the same rate. The schedule itself is
//! [`crate::schedule::Ramp`]'s; this is the value a run is configured and reported with.

use std::time::Duration;

use nines_common::units::{parse_duration, parse_rate, rate_text, HumanDuration};
use nines_common::usage::UsageError;
use serde::{Deserialize, Serialize};

use super::secs;
use crate::schedule::Ramp;

/// Most stages a run may have.
pub const MAX_STAGES: usize = 1000;

/// An open loop's requests per second, across all threads and connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Rate {
    /// One rate from start to end.
    Steady {
        /// Requests per second.
        rate_per_s: f64,
    },
    /// A rate that ramps through stages; the stages say how long the run lasts.
    Staged {
        /// The stages, in order.
        stages: Stages,
    },
}

impl Rate {
    /// Requests per second over the whole run: the rate, or the stages' mean.
    pub fn mean_per_s(&self) -> f64 {
        match self {
            Rate::Steady { rate_per_s } => *rate_per_s,
            Rate::Staged { stages } => stages.mean_per_s(),
        }
    }

    /// The stages, when the rate has them.
    pub fn stages(&self) -> Option<&Stages> {
        match self {
            Rate::Steady { .. } => None,
            Rate::Staged { stages } => Some(stages),
        }
    }

    /// Requests expected between `t0_s` and `t1_s` after the start of measurement (none
    /// after the stages end: the run stops issuing there).
    pub fn expected_between(&self, t0_s: f64, t1_s: f64) -> f64 {
        match self {
            Rate::Steady { rate_per_s } => rate_per_s * (t1_s - t0_s),
            Rate::Staged { stages } => {
                let end = stages.total().as_secs_f64();
                let ns = |t: f64| t.min(end) * 1e9;
                stages.ramp().expected_between(ns(t0_s), ns(t1_s))
            }
        }
    }
}

/// One stage: the rate ramps to `rate_per_s` over `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// How long the stage lasts.
    #[serde(rename = "duration_s", with = "secs")]
    pub duration: Duration,
    /// The rate at its end, requests per second.
    pub rate_per_s: f64,
}

/// Stages that can be run: at least one, each longer than 0 at a finite rate of 0 or more, and
/// some rate above 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Stage>", into = "Vec<Stage>")]
pub struct Stages(Vec<Stage>);

impl TryFrom<Vec<Stage>> for Stages {
    type Error = String;

    fn try_from(stages: Vec<Stage>) -> Result<Stages, String> {
        if stages.is_empty() {
            return Err("no stages: give DURATION:RATE,... e.g. 30s:1000,2m:1000,30s:0".into());
        }
        if stages.len() > MAX_STAGES {
            return Err(format!(
                "{} stages: at most {MAX_STAGES} (each is a row of every result)",
                stages.len()
            ));
        }
        for (i, s) in stages.iter().enumerate() {
            let n = i + 1;
            if s.duration.is_zero() {
                return Err(format!("stage {n} lasts 0 s: a stage lasts more than 0 s"));
            }
            if !(s.rate_per_s.is_finite() && s.rate_per_s >= 0.0) {
                return Err(format!(
                    "stage {n}'s rate {} is not a rate: a finite number of requests per second, 0 or more",
                    s.rate_per_s
                ));
            }
        }
        if stages.iter().all(|s| s.rate_per_s == 0.0) {
            return Err("every stage's rate is 0: nothing would be sent".into());
        }
        Ok(Stages(stages))
    }
}

impl From<Stages> for Vec<Stage> {
    fn from(s: Stages) -> Vec<Stage> {
        s.0
    }
}

impl Stages {
    /// What stages ask of the run they are in: a peak the driver's threads can send (`max`
    /// per second), the run as long as the stages (`length`: none when it stops at a count),
    /// and no warm-up (the stages start at 0: the first stage is the warm-up, with
    /// percentiles of its own).
    pub fn check(
        &self,
        length: Option<Duration>,
        warmup: Duration,
        max_per_s: f64,
        e: &mut Vec<UsageError>,
    ) {
        if self.peak_per_s() > max_per_s {
            e.push(UsageError::new(
                "--stages",
                format!(
                    "a stage's rate {} is more than the {} requests per second allowed in total (10,000,000 per driver thread; add --threads)",
                    rate_text(self.peak_per_s()),
                    rate_text(max_per_s)
                ),
            ));
        }
        if length != Some(self.total()) {
            e.push(UsageError::new(
                if length.is_some() {
                    "--duration"
                } else {
                    "--requests"
                },
                format!(
                    "cannot be given with --stages: the stages say how long the run lasts ({})",
                    HumanDuration(self.total())
                ),
            ));
        }
        if !warmup.is_zero() {
            e.push(UsageError::new(
                "--warmup",
                "stages start from 0 and ramp, so there is no rate to warm up at: make the first stage the warm-up (it has percentiles of its own), or give -w 0s",
            ));
        }
    }

    /// Parses `DURATION:RATE,...` (`30s:1000,2m:10k,30s:0`).
    pub fn parse(text: &str) -> Result<Stages, String> {
        let stages = text
            .split(',')
            .enumerate()
            .map(|(i, part)| {
                let part = part.trim();
                let (d, r) = part.split_once(':').ok_or_else(|| {
                    format!(
                        "stage {} `{part}` is not DURATION:RATE (e.g. 30s:1000)",
                        i + 1
                    )
                })?;
                let stage = |e: String| format!("stage {} `{part}`: {e}", i + 1);
                Ok(Stage {
                    duration: parse_duration(d).map_err(stage)?,
                    rate_per_s: parse_rate(r).map_err(stage)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Stages::try_from(stages)
    }

    /// The stages in order.
    pub fn list(&self) -> &[Stage] {
        &self.0
    }

    /// How long they last together.
    pub fn total(&self) -> Duration {
        self.0.iter().map(|s| s.duration).sum()
    }

    /// The highest rate any stage reaches.
    pub fn peak_per_s(&self) -> f64 {
        self.0.iter().map(|s| s.rate_per_s).fold(0.0, f64::max)
    }

    /// Their mean rate: requests expected over the run, per second.
    pub fn mean_per_s(&self) -> f64 {
        self.ramp().total() / self.total().as_secs_f64()
    }

    /// Their rate as a function of time, for the schedule.
    pub fn ramp(&self) -> Ramp {
        Ramp::new(
            self.0
                .iter()
                .map(|s| (s.duration.as_nanos() as f64, s.rate_per_s)),
        )
    }

    /// Each stage with the rate it starts at and when it starts (seconds after the start).
    pub fn spans(&self) -> impl Iterator<Item = Span> + '_ {
        let mut start = Duration::ZERO;
        let mut from = 0.0;
        self.0.iter().map(move |s| {
            let span = Span {
                start_s: start.as_secs_f64(),
                duration_s: s.duration.as_secs_f64(),
                from_rps: from,
                to_rps: s.rate_per_s,
            };
            (start, from) = (start + s.duration, s.rate_per_s);
            span
        })
    }

    /// As written: `30s:1,000,2m:10,000` would not read back, so rates are plain numbers.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|s| format!("{}:{}", HumanDuration(s.duration), s.rate_per_s))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// One stage placed on the run's timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// When it starts, seconds after the start of measurement.
    pub start_s: f64,
    /// How long it lasts, seconds.
    pub duration_s: f64,
    /// The rate it ramps from.
    pub from_rps: f64,
    /// The rate it ramps to.
    pub to_rps: f64,
}

impl Span {
    /// `0 → 1,000/s`, or `1,000/s` for a hold.
    pub fn rates_text(&self) -> String {
        if self.from_rps == self.to_rps {
            format!("{}/s", rate_text(self.to_rps))
        } else {
            format!(
                "{} → {}/s",
                rate_text(self.from_rps),
                rate_text(self.to_rps)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_parse_with_units_and_say_what_is_wrong() {
        let s = Stages::parse("30s:1000, 2m:10k,30s:0").unwrap();
        assert_eq!(s.total(), Duration::from_secs(180));
        assert_eq!(s.list()[1].rate_per_s, 10_000.0);
        assert_eq!(s.peak_per_s(), 10_000.0);
        // 15,000 + 660,000 + 150,000 over 180 s.
        assert!((s.mean_per_s() - 825_000.0 / 180.0).abs() < 1e-6);
        assert_eq!(Stages::parse(&s.describe()).unwrap(), s);
        let spans: Vec<Span> = s.spans().collect();
        assert_eq!(
            (spans[2].start_s, spans[2].from_rps, spans[2].to_rps),
            (150.0, 10_000.0, 0.0)
        );
        assert_eq!(spans[1].rates_text(), "1,000 → 10,000/s");
        for (bad, says) in [
            ("30s", "not DURATION:RATE"),
            ("0s:100", "stage 1 lasts 0 s"),
            ("1s:100,0ms:5", "stage 2 lasts 0 s"),
            ("1s:-5", "not a rate"),
            ("1s:fast", "stage 1 `1s:fast`"),
            ("5s:0,5s:0", "every stage's rate is 0"),
            ("ten:5", "not a duration"),
        ] {
            let e = Stages::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn a_rate_saves_as_a_rate_or_as_its_stages_and_reads_back() {
        let steady = Rate::Steady { rate_per_s: 50.0 };
        let v = serde_json::to_value(&steady).unwrap();
        assert_eq!(v["rate_per_s"], 50.0);
        assert_eq!(serde_json::from_value::<Rate>(v).unwrap(), steady);
        let staged = Rate::Staged {
            stages: Stages::parse("1s:100,2s:100").unwrap(),
        };
        let v = serde_json::to_value(&staged).unwrap();
        assert_eq!(v["stages"][1]["duration_s"], 2.0);
        assert_eq!(serde_json::from_value::<Rate>(v).unwrap(), staged);
        // Stages that cannot run do not load.
        let bad = serde_json::json!({"stages": [{"duration_s": 0.0, "rate_per_s": 5.0}]});
        assert!(serde_json::from_value::<Rate>(bad).is_err());
        assert!((staged.expected_between(0.0, 1.0) - 50.0).abs() < 1e-6);
        assert!((staged.mean_per_s() - 250.0 / 3.0).abs() < 1e-9);
    }
}
