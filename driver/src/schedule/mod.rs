//! Open-loop arrival schedules: when each request is *due*, independent of when replies come.
//!
//! The schedule is pure arithmetic on the run clock, so it can be tested without sockets and a
//! seed reproduces a Poisson run exactly. Due times are computed from the start time and the
//! arrival count in f64 nanoseconds (exact to the nanosecond for 100 days), so a constant rate
//! never drifts however long the run. A rate that ramps through stages warps the same
//! schedule's clock ([`ramp`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use ramp::Ramp;

mod ramp;

/// How arrivals are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arrival {
    /// Evenly spaced: one request every 1/rate seconds.
    #[default]
    Constant,
    /// A Poisson process: exponentially distributed gaps with mean 1/rate, from a seeded RNG.
    Poisson,
}

nines_common::value_enum_display!(Arrival);

/// SplitMix64: tiny, fast, and fully determined by its seed (what repeatable runs need).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1]: never 0, so its logarithm is finite.
    pub fn next_open01(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
}

/// How fast arrivals come: one rate throughout, or a ramp through stages.
#[derive(Debug, Clone)]
enum Pace {
    /// Mean gap between arrivals, ns.
    Steady { gap_ns: f64 },
    /// The ramp, and the segment the last arrival fell in.
    Ramped { ramp: Arc<Ramp>, segment: usize },
}

/// The due times of one driver thread's requests.
///
/// Arrivals are drawn in expected-arrival units (Λ): the k-th constant arrival at Λ = k,
/// Poisson arrivals at unit-mean exponential gaps. A steady rate maps Λ to time by one
/// multiply; a ramp through its inverse ([`Ramp::when`]). Either way each due time is computed
/// from the start, not from the last, so nothing accumulates.
#[derive(Debug, Clone)]
pub struct Schedule {
    start_ns: u64,
    pace: Pace,
    arrival: Arrival,
    rng: SplitMix64,
    /// Arrivals already taken.
    count: u64,
    /// Λ of the next arrival.
    next_lambda: f64,
    /// Where in each unit of Λ this thread's constant arrivals fall.
    phase: f64,
    /// When the next arrival is due, ns after `start_ns` (`u64::MAX`: never).
    next_offset_ns: u64,
}

impl Schedule {
    /// A schedule of `rate_per_s` arrivals per second from `start_ns` on. `seed` matters only
    /// for Poisson arrivals.
    ///
    /// # Panics
    /// If `rate_per_s` is not positive and finite (validated before a run starts).
    pub fn new(start_ns: u64, rate_per_s: f64, arrival: Arrival, seed: u64) -> Schedule {
        assert!(
            rate_per_s > 0.0 && rate_per_s.is_finite(),
            "rate must be positive"
        );
        Schedule::with_pace(
            start_ns,
            Pace::Steady {
                gap_ns: 1e9 / rate_per_s,
            },
            arrival,
            seed,
        )
    }

    /// A schedule whose rate follows `ramp` from `start_ns` on (a run's stages, scaled to
    /// this thread's share), for thread `index` of `threads`: constant arrivals of the threads
    /// interleave (this thread's fall at Λ = k + (index + ½) / threads of its share), so
    /// together they are evenly spaced, none falls at the instant the rate is still 0, and
    /// each stage's count rounds to the nearest.
    pub fn ramped(
        start_ns: u64,
        ramp: Arc<Ramp>,
        arrival: Arrival,
        seed: u64,
        (index, threads): (usize, usize),
    ) -> Schedule {
        let mut s = Schedule::with_pace(start_ns, Pace::Ramped { ramp, segment: 0 }, arrival, seed);
        if arrival == Arrival::Constant {
            s.phase = (index as f64 + 0.5) / threads.max(1) as f64;
            s.next_lambda = s.phase;
            s.next_offset_ns = s.offset_of(s.next_lambda);
        }
        s
    }

    fn with_pace(start_ns: u64, pace: Pace, arrival: Arrival, seed: u64) -> Schedule {
        let mut s = Schedule {
            start_ns,
            pace,
            arrival,
            rng: SplitMix64::new(seed),
            count: 0,
            next_lambda: 0.0,
            phase: 0.0,
            next_offset_ns: 0,
        };
        if arrival == Arrival::Poisson {
            // The first arrival is one random gap after the start, like every other.
            s.next_lambda = s.gap();
        }
        s.next_offset_ns = s.offset_of(s.next_lambda);
        s
    }

    /// A unit-mean exponential gap.
    fn gap(&mut self) -> f64 {
        -self.rng.next_open01().ln()
    }

    /// When `lambda` arrivals are expected, ns after the start.
    #[inline]
    fn offset_of(&mut self, lambda: f64) -> u64 {
        match &mut self.pace {
            Pace::Steady { gap_ns } => (lambda * *gap_ns) as u64,
            Pace::Ramped { ramp, segment } => {
                ramp.when(lambda, segment).map_or(u64::MAX, |t| t as u64)
            }
        }
    }

    /// When the next request is due (run-clock ns; `u64::MAX` when none ever will be).
    #[inline]
    pub fn peek(&self) -> u64 {
        self.start_ns.saturating_add(self.next_offset_ns)
    }

    /// Takes the next due time and moves on.
    #[inline]
    pub fn take(&mut self) -> u64 {
        let due = self.peek();
        self.count += 1;
        self.next_lambda = match self.arrival {
            Arrival::Constant => self.count as f64 + self.phase,
            Arrival::Poisson => self.next_lambda + self.gap(),
        };
        self.next_offset_ns = self.offset_of(self.next_lambda);
        due
    }

    /// Arrivals taken so far.
    pub fn taken(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_before(s: &mut Schedule, end: u64) -> u64 {
        let mut n = 0;
        while s.peek() < end {
            s.take();
            n += 1;
        }
        n
    }

    #[test]
    fn constant_is_exact_and_does_not_drift() {
        let mut s = Schedule::new(1_000, 3.0, Arrival::Constant, 0);
        assert_eq!(s.take(), 1_000);
        assert_eq!(s.take(), 1_000 + 333_333_333);
        assert_eq!(s.take(), 1_000 + 666_666_666);
        assert_eq!(s.take(), 1_000 + 1_000_000_000);
        // A day at 1M/s lands exactly where it should.
        let mut s = Schedule::new(0, 1e6, Arrival::Constant, 0);
        for _ in 0..86_400_000u64 / 1000 {
            s.take();
        }
        assert_eq!(s.peek(), 86_400_000u64 / 1000 * 1000);
    }

    #[test]
    fn poisson_hits_its_rate_and_the_seed_repeats_it() {
        let mut a = Schedule::new(0, 50_000.0, Arrival::Poisson, 42);
        let n = count_before(&mut a, 10_000_000_000);
        // 500,000 expected; a Poisson count's sd is ~707, so 0.5% is > 3.5 sd.
        assert!((n as f64 - 500_000.0).abs() < 2_500.0, "{n}");
        let mut b = Schedule::new(0, 50_000.0, Arrival::Poisson, 42);
        let mut c = Schedule::new(0, 50_000.0, Arrival::Poisson, 43);
        let first_b: Vec<u64> = (0..1000).map(|_| b.take()).collect();
        let first_c: Vec<u64> = (0..1000).map(|_| c.take()).collect();
        let mut a = Schedule::new(0, 50_000.0, Arrival::Poisson, 42);
        let first_a: Vec<u64> = (0..1000).map(|_| a.take()).collect();
        assert_eq!(first_a, first_b);
        assert_ne!(first_a, first_c);
        assert!(first_a.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn poisson_gaps_look_exponential() {
        // For an exponential distribution the sd equals the mean.
        let mut s = Schedule::new(0, 1000.0, Arrival::Poisson, 7);
        let mut prev = 0u64;
        let gaps: Vec<f64> = (0..100_000)
            .map(|_| {
                let t = s.take();
                let g = (t - prev) as f64;
                prev = t;
                g
            })
            .collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        assert!((mean - 1e6).abs() / 1e6 < 0.02, "mean {mean}");
        assert!(
            (var.sqrt() - mean).abs() / mean < 0.03,
            "sd {} mean {mean}",
            var.sqrt()
        );
    }

    #[test]
    fn a_ramped_schedule_follows_its_stages_second_by_second() {
        // 0 -> 2,000/s over 2 s, then held 2 s: 2,000 then 4,000 arrivals.
        let ramp = Arc::new(Ramp::new([(2e9, 2000.0), (2e9, 2000.0)]));
        for arrival in [Arrival::Constant, Arrival::Poisson] {
            let mut s = Schedule::ramped(0, ramp.clone(), arrival, 5, (0, 1));
            let per_second: Vec<u64> = (1..=4)
                .map(|k| count_before(&mut s, k * 1_000_000_000))
                .collect();
            // Constant spacing is exact to one arrival; Poisson within 4 sd of each count.
            let expected = [500.0, 1500.0, 2000.0, 2000.0];
            for (n, e) in per_second.iter().zip(expected) {
                let tolerance = match arrival {
                    Arrival::Constant => 1.0,
                    Arrival::Poisson => 4.0 * f64::sqrt(e),
                };
                assert!(
                    (*n as f64 - e).abs() <= tolerance,
                    "{arrival}: {per_second:?}"
                );
            }
            assert!(
                s.peek() >= 4_000_000_000,
                "the hold's rate carries on past the end"
            );
        }
        // Ramped down to 0, nothing is ever due again.
        let mut s = Schedule::ramped(
            7,
            Arc::new(Ramp::new([(1e9, 100.0), (1e9, 0.0)])),
            Arrival::Constant,
            0,
            (0, 1),
        );
        assert_eq!(count_before(&mut s, u64::MAX - 1), 100);
        assert_eq!(s.peek(), u64::MAX);
        // Eight threads, each its eighth of 1 s ramping 0 -> 100/s (50 in all): they interleave,
        // none sends at the start while the rate is 0, and together they send the 50 asked.
        let ramp = Arc::new(Ramp::new([(1e9, 100.0)]).scaled(1.0 / 8.0));
        let mut firsts = Vec::new();
        let mut total = 0;
        for i in 0..8 {
            let mut s = Schedule::ramped(0, ramp.clone(), Arrival::Constant, 0, (i, 8));
            firsts.push(s.peek());
            total += count_before(&mut s, 1_000_000_000);
        }
        assert_eq!(total, 50);
        assert!(firsts.iter().all(|&t| t > 0), "{firsts:?}");
        assert!(
            firsts.windows(2).all(|w| w[0] < w[1]),
            "interleaved: {firsts:?}"
        );
    }

    #[test]
    fn names_parse() {
        assert_eq!("poisson".parse::<Arrival>(), Ok(Arrival::Poisson));
        assert!("bursty".parse::<Arrival>().is_err());
    }
}
