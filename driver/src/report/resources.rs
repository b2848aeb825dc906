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
    let n = xy.len() as f64;
    let (mx, my) = xy
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xy {
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
    }
}
