//! A rate that changes linearly within each of its segments (a load's stages): how many
//! arrivals are expected by each instant, Λ(t) = ∫ rate, and its inverse, when the expected
//! count reaches a value. A schedule draws its arrivals in Λ (one apart, or unit-mean
//! exponential gaps) and maps each to its time through the inverse: a time-warped constant or
//! Poisson process, exact at every instant's rate, that does not drift however long it runs.

/// One segment: the rate goes from `from` to `to` (per ns) over `len_ns`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    start_ns: f64,
    len_ns: f64,
    from: f64,
    to: f64,
    /// Arrivals expected before the segment starts.
    before: f64,
}

impl Segment {
    /// Arrivals expected over the whole segment.
    fn expected(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.len_ns
    }

    /// Arrivals expected in its first `tau_ns`.
    fn expected_in(&self, tau_ns: f64) -> f64 {
        let tau = tau_ns.clamp(0.0, self.len_ns);
        self.from * tau + (self.to - self.from) / (2.0 * self.len_ns) * tau * tau
    }

    /// How far into the segment `d` arrivals are expected (0 <= d <= its expected count):
    /// the root of from·τ + k/2·τ² = d, written so it is stable whatever k's sign (and k = 0).
    fn reach(&self, d: f64) -> f64 {
        if d <= 0.0 {
            return 0.0;
        }
        let k = (self.to - self.from) / self.len_ns;
        let root = (self.from * self.from + 2.0 * k * d).max(0.0).sqrt();
        let denominator = self.from + root;
        if denominator <= 0.0 {
            return self.len_ns;
        }
        (2.0 * d / denominator).min(self.len_ns)
    }
}

/// A piecewise-linear rate from time 0: each stage ramps from the previous stage's rate (0 at
/// the start) to its own over its length.
#[derive(Debug, Clone, PartialEq)]
pub struct Ramp {
    segments: Vec<Segment>,
}

impl Ramp {
    /// The ramp through `stages`, each (length in ns, rate per second at its end).
    pub fn new(stages: impl IntoIterator<Item = (f64, f64)>) -> Ramp {
        let mut segments: Vec<Segment> = Vec::new();
        let (mut start_ns, mut before, mut from) = (0.0, 0.0, 0.0);
        for (len_ns, rate_per_s) in stages {
            let to = rate_per_s / 1e9;
            let s = Segment {
                start_ns,
                len_ns,
                from,
                to,
                before,
            };
            (start_ns, before, from) = (start_ns + len_ns, before + s.expected(), to);
            segments.push(s);
        }
        Ramp { segments }
    }

    /// The same ramp with every rate times `factor` (a thread's share of the run's).
    pub fn scaled(&self, factor: f64) -> Ramp {
        let segments = self
            .segments
            .iter()
            .map(|s| Segment {
                from: s.from * factor,
                to: s.to * factor,
                before: s.before * factor,
                ..*s
            })
            .collect();
        Ramp { segments }
    }

    /// Where the ramp ends, ns from its start.
    pub fn len_ns(&self) -> f64 {
        self.segments.last().map_or(0.0, |s| s.start_ns + s.len_ns)
    }

    /// Arrivals expected over the whole ramp.
    pub fn total(&self) -> f64 {
        self.segments
            .last()
            .map_or(0.0, |s| s.before + s.expected())
    }

    /// Arrivals expected from the start to `t_ns` (the ramp's last rate holds after its end).
    pub fn expected_by(&self, t_ns: f64) -> f64 {
        let Some(i) = self.segments.iter().rposition(|s| s.start_ns <= t_ns) else {
            return 0.0;
        };
        let s = &self.segments[i];
        let past_end = (t_ns - s.start_ns - s.len_ns).max(0.0);
        s.before + s.expected_in(t_ns - s.start_ns) + past_end * s.to
    }

    /// Arrivals expected between `t0_ns` and `t1_ns`.
    pub fn expected_between(&self, t0_ns: f64, t1_ns: f64) -> f64 {
        self.expected_by(t1_ns) - self.expected_by(t0_ns)
    }

    /// When `lambda` arrivals are first exceeded-or-reached, ns from the start: the inverse of
    /// [`Ramp::expected_by`], skipping any stretch where nothing is expected (a pause at rate
    /// 0 sends nothing, even at its start). Past the end the last rate holds; `None` if that
    /// rate is 0 (no such time). `segment` is where the search starts and is left where this
    /// one ended: arrivals are asked for in order, so the search is O(1) on average.
    pub fn when(&self, lambda: f64, segment: &mut usize) -> Option<f64> {
        while let Some(s) = self.segments.get(*segment) {
            if lambda < s.before + s.expected() {
                return Some(s.start_ns + s.reach(lambda - s.before));
            }
            *segment += 1;
        }
        let last = self.segments.last()?;
        (last.to > 0.0).then(|| self.len_ns() + (lambda - self.total()) / last.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: f64 = 1e9;

    /// "10s:1000,20s:1000,10s:0": up, hold, down.
    fn up_hold_down() -> Ramp {
        Ramp::new([(10.0 * S, 1000.0), (20.0 * S, 1000.0), (10.0 * S, 0.0)])
    }

    #[test]
    fn expected_counts_are_the_areas_under_the_stages() {
        let r = up_hold_down();
        assert_eq!(r.len_ns(), 40.0 * S);
        // 5,000 up, 20,000 held, 5,000 down.
        assert!((r.total() - 30_000.0).abs() < 1e-6, "{}", r.total());
        assert!((r.expected_by(10.0 * S) - 5_000.0).abs() < 1e-6);
        // Half-way up the ramp the rate is 500/s and a quarter of its area is behind.
        assert!((r.expected_by(5.0 * S) - 1_250.0).abs() < 1e-6);
        assert!((r.expected_between(12.0 * S, 13.0 * S) - 1_000.0).abs() < 1e-6);
        // After the end the last rate (0) holds.
        assert!((r.expected_by(100.0 * S) - 30_000.0).abs() < 1e-6);
        assert_eq!(r.expected_by(-1.0), 0.0);
    }

    #[test]
    fn when_inverts_expected_by_everywhere() {
        let r = up_hold_down();
        let mut seg = 0;
        for k in 0..30_000 {
            let lambda = k as f64 + 0.5;
            let t = r.when(lambda, &mut seg).unwrap();
            let back = r.expected_by(t);
            assert!((back - lambda).abs() < 1e-6, "k {k}: t {t} gives {back}");
        }
        // Nothing falls due after a ramp down to 0 ends.
        assert_eq!(r.when(30_000.5, &mut seg), None);
    }

    #[test]
    fn a_pause_sends_nothing_and_a_hold_past_the_end_keeps_its_rate() {
        // 5 s at 0, then a step to 100/s held 5 s (a ramp from 0 to 0, then 0 to 100 over a
        // nanosecond).
        let r = Ramp::new([(5.0 * S, 0.0), (1.0, 100.0), (5.0 * S, 100.0)]);
        let mut seg = 0;
        let first = r.when(0.0, &mut seg).unwrap();
        assert!(
            first >= 5.0 * S,
            "the first arrival waits out the pause: {first}"
        );
        let mut seg = 0;
        let t = r.when(r.total() + 100.0, &mut seg).unwrap();
        assert!((t - r.len_ns() - S).abs() < 1.0, "{t}");
        // Scaled to a thread's half, half as many arrive.
        assert!((r.scaled(0.5).total() - r.total() / 2.0).abs() < 1e-9);
    }
}
