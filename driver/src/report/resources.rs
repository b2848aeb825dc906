//! What the target (and the driver) held second by second, and whether it grew: resident
//! memory, descriptors, threads and sockets read at each second of measurement (from /proc, or
//! for a nines-server on another machine from its Stats replies), and
//! their growth over the measured window by least squares — the slope, and r² for how well a
//! straight line explains it (a leak grows steadily: high r²; a cache warming up does not).

use serde::{Deserialize, Serialize};

use crate::host::Usage;

/// What was held at the end of one second.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Held {
    /// The target's processes, when they are on this machine and apart from the driver; or
    /// the process of a nines-server elsewhere that answered its Stats request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<Usage>,
    /// The driver's own process (with an embedded server inside it).
    pub driver: Usage,
}

impl Held {
    /// What two drivers that loaded one target together held in the same second, `self` the
    /// earlier part's (`nines merge`): the target is the same processes read by each driver, so
    /// the first reading of it is kept (they differ only by the moment each was read); the
    /// drivers are separate processes, so theirs add up.
    pub fn beside(self, other: Held) -> Held {
        let (a, b) = (self.driver, other.driver);
        Held {
            server: self.server.or(other.server),
            driver: Usage {
                rss_bytes: a.rss_bytes + b.rss_bytes,
                fds: a.fds + b.fds,
                threads: a.threads + b.threads,
                sockets: a.sockets + b.sockets,
            },
        }
    }
}

/// A straight line through (seconds, value) points: how fast the value grew, and how well the
/// line explains it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Trend {
    /// The first second's value.
    pub first: u64,
    /// The last second's value.
    pub last: u64,
    /// Growth per second (least squares).
    pub per_s: f64,
    /// How much of the variation the line explains (0..1); none when the value never changed.
    pub r2: Option<f64>,
}

/// A process's (or the target's) resources over the measured window.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Growth {
    /// Resident memory, bytes.
    pub rss_bytes: Trend,
    /// Open descriptors.
    pub fds: Trend,
    /// Threads.
    pub threads: Trend,
    /// Sockets.
    pub sockets: Trend,
}

/// The target's and the driver's resources over the run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ResourceSummary {
    /// The target's, when it was on this machine apart from the driver, or a nines-server
    /// elsewhere (one process of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<Growth>,
    /// The driver's (an embedded server's included).
    pub driver: Growth,
}

/// Fewest seconds a trend is drawn through.
pub const MIN_SECONDS: usize = 3;

/// r² from which a growth is called steady: a leak grows steadily; a cache warming up, a pool
/// filling or the allocator's moods do not.
pub const STEADY_R2: f64 = 0.8;
/// Memory that grows steadily at least this fast, bytes a minute, looks like a leak.
pub const LEAK_RSS_PER_MIN: f64 = 1_048_576.0;
/// Descriptors that rose steadily by at least this many over the run look like a leak.
pub const LEAK_FDS: u64 = 10;

/// What grows in a leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Leak {
    /// Resident memory.
    Memory,
    /// Open descriptors.
    Descriptors,
}

impl Growth {
    /// What grew steadily (r² at least [`STEADY_R2`]) and far enough to look like a leak:
    /// memory by at least [`LEAK_RSS_PER_MIN`], descriptors by at least [`LEAK_FDS`] over the
    /// run; each with its trend.
    pub fn leaks(&self) -> Vec<(Leak, Trend)> {
        let steady = |t: &Trend| t.per_s > 0.0 && t.r2.is_some_and(|r| r >= STEADY_R2);
        let mut out = Vec::new();
        let rss = self.rss_bytes;
        if steady(&rss) && rss.per_s * 60.0 >= LEAK_RSS_PER_MIN {
            out.push((Leak::Memory, rss));
        }
        if steady(&self.fds) && self.fds.last >= self.fds.first + LEAK_FDS {
            out.push((Leak::Descriptors, self.fds));
        }
        out
    }
}

/// A memory growth per second as people read it, per minute: `+118.0 MiB/min`, `-512 B/min`.
pub fn rss_rate_text(per_s: f64) -> String {
    let sign = if per_s < 0.0 { "-" } else { "+" };
    format!(
        "{sign}{}/min",
        nines_common::units::bytes_text(per_s.abs() * 60.0)
    )
}

/// A descriptor growth per second as people read it, per minute: `+0/min`, `+1.5/min`, `+90/min`.
pub fn fd_rate_text(per_s: f64) -> String {
    // `+ 0.0` turns a negative zero into a zero: no `-0/min`.
    let per_min = per_s * 60.0 + 0.0;
    if (per_min - per_min.round()).abs() < 0.05 {
        format!("{:+.0}/min", per_min.round() + 0.0)
    } else {
        format!("{per_min:+.1}/min")
    }
}

/// The trends of what was `held` at each time (seconds into the measurement); none with
/// fewer than [`MIN_SECONDS`] readings.
pub fn summarize(held: &[(f64, Held)]) -> Option<ResourceSummary> {
    if held.len() < MIN_SECONDS {
        return None;
    }
    let growth = |usage: &dyn Fn(&Held) -> Option<Usage>| -> Option<Growth> {
        let pts: Vec<(f64, Usage)> = held
            .iter()
            .filter_map(|(t, h)| Some((*t, usage(h)?)))
            .collect();
        if pts.len() < MIN_SECONDS {
            return None;
        }
        let trend = |f: fn(&Usage) -> u64| {
            let xy: Vec<(f64, f64)> = pts.iter().map(|(t, u)| (*t, f(u) as f64)).collect();
            let (per_s, r2) = least_squares(&xy);
            Trend {
                first: f(&pts[0].1),
                last: f(&pts[pts.len() - 1].1),
                per_s,
                r2,
            }
        };
        Some(Growth {
            rss_bytes: trend(|u| u.rss_bytes),
            fds: trend(|u| u.fds),
            threads: trend(|u| u.threads),
            sockets: trend(|u| u.sockets),
        })
    };
    Some(ResourceSummary {
        server: growth(&|h| h.server),
        driver: growth(&|h| Some(h.driver))?,
    })
}

/// The least-squares slope of `y` on `x`, and r² (none when `y` never changes).
pub fn least_squares(xy: &[(f64, f64)]) -> (f64, Option<f64>) {
    let Some(&(x0, y0)) = xy.first() else {
        return (0.0, None);
    };
    // Measured from the first point: a value that never moves is exactly 0 throughout, so its
    // mean is exactly 0 and it has no r² (16 descriptors' mean over 11 seconds summed as y/n is
    // 16.000000000000004, which left an "r² 0.00" on flat counts), and large values lose no
    // digits to their size.
    let xy: Vec<(f64, f64)> = xy.iter().map(|(x, y)| (x - x0, y - y0)).collect();
    let n = xy.len() as f64;
    let (mx, my) = xy
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in &xy {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx == 0.0 {
        return (0.0, None);
    }
    let r2 = (syy > 0.0).then(|| sxy * sxy / (sxx * syy));
    (sxy / sxx, r2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_leak_has_its_slope_and_a_high_r2_and_noise_a_low_one() {
        let leak: Vec<(f64, f64)> = (0..10)
            .map(|t| (t as f64, 1000.0 + 512.0 * t as f64))
            .collect();
        let (per_s, r2) = least_squares(&leak);
        assert!((per_s - 512.0).abs() < 1e-9 && (r2.unwrap() - 1.0).abs() < 1e-9);
        let noise: Vec<(f64, f64)> = [5.0, 9.0, 4.0, 8.0, 5.0, 9.0, 4.0, 8.0]
            .iter()
            .enumerate()
            .map(|(t, y)| (t as f64, *y))
            .collect();
        assert!(least_squares(&noise).1.unwrap() < 0.2);
        assert_eq!(least_squares(&[(0.0, 3.0), (1.0, 3.0)]), (0.0, None));
        // A flat value of any size, over any number of seconds, has no r² and no slope.
        for v in [16.0, 3.0, 4_521_984.0] {
            let flat: Vec<(f64, f64)> = (1..=11).map(|t| (t as f64, v)).collect();
            assert_eq!(least_squares(&flat), (0.0, None), "{v}");
        }
        assert_eq!(least_squares(&[]), (0.0, None));
    }

    fn trend(first: u64, last: u64, per_s: f64, r2: Option<f64>) -> Trend {
        Trend {
            first,
            last,
            per_s,
            r2,
        }
    }

    /// A leak is both steady and past its threshold; noise or a small rise is not one.
    #[test]
    fn a_leak_is_steady_and_large_enough_and_noise_or_a_small_rise_is_not() {
        let flat = trend(5, 5, 0.0, None);
        let g = |rss: Trend, fds: Trend| Growth {
            rss_bytes: rss,
            fds,
            threads: flat,
            sockets: flat,
        };
        let mib_per_min = LEAK_RSS_PER_MIN / 60.0;
        let steady_mem = trend(1 << 20, 2 << 20, 2.0 * mib_per_min, Some(0.99));
        let steady_fds = trend(20, 20 + LEAK_FDS, 1.0, Some(0.95));
        let kinds = |g: Growth| g.leaks().iter().map(|l| l.0).collect::<Vec<_>>();
        assert_eq!(
            kinds(g(steady_mem, steady_fds)),
            [Leak::Memory, Leak::Descriptors]
        );
        // Fast but noisy; steady but slow; descriptors steady but fewer than LEAK_FDS more.
        let noisy = trend(1 << 20, 2 << 20, 2.0 * mib_per_min, Some(STEADY_R2 - 0.1));
        let slow = trend(1 << 20, 1 << 20, 0.5 * mib_per_min, Some(0.99));
        let few = trend(20, 20 + LEAK_FDS - 1, 1.0, Some(0.99));
        assert!(kinds(g(noisy, few)).is_empty());
        assert!(kinds(g(slow, flat)).is_empty());
    }

    /// Growth rates read per minute, with a sign and no negative zero.
    #[test]
    fn rates_read_per_minute() {
        assert_eq!(rss_rate_text(2.0 * 1_048_576.0), "+120.0 MiB/min");
        assert_eq!(rss_rate_text(-512.0 / 60.0), "-512 B/min");
        assert_eq!(fd_rate_text(0.0), "+0/min");
        assert_eq!(fd_rate_text(-0.0001), "+0/min");
        assert_eq!(fd_rate_text(1.5), "+90/min");
        assert_eq!(fd_rate_text(0.025), "+1.5/min");
        assert_eq!(fd_rate_text(-0.5), "-30/min");
    }
}
