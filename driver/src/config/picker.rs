//! Which request each connection sends next: a line of the mix chosen by weight and a payload
//! size drawn, from the connection's own seeded generator. A run of one fixed request draws
//! nothing, and the choice is then one branch.

use std::sync::Arc;

use super::payload::below;
use super::{Payload, Requests};
use crate::schedule::SplitMix64;

/// A request chosen for sending: its line, and the payload size drawn for it (0 where the
/// request has no payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pick {
    /// Index of its line in [`Requests::lines`].
    pub line: u16,
    /// Payload bytes.
    pub size: u32,
}

/// Chooses each request's line and size for one connection, from its own seeded generator.
/// A run of one fixed request draws nothing: [`Picker::pick`] is then one branch.
#[derive(Debug, Clone)]
pub struct Picker {
    rng: SplitMix64,
    table: Arc<Table>,
}

/// What a [`Picker`] draws from, shared by a run's connections.
#[derive(Debug)]
struct Table {
    /// The pick when nothing is drawn.
    fixed: Option<Pick>,
    /// Running sum of the weights, one per line.
    cumulative: Vec<u64>,
    /// Each line's payload sizes, where the line has a payload.
    sizes: Vec<Option<Payload>>,
}

impl Picker {
    /// A picker for connection number `index` of a run drawing from `requests`.
    pub fn new(requests: &Requests, index: u64) -> Picker {
        Picker::for_table(Picker::table(requests), requests.seed(), index)
    }

    /// The table a run's pickers share.
    fn table(requests: &Requests) -> Arc<Table> {
        let sizes: Vec<Option<Payload>> = requests
            .lines()
            .iter()
            .map(|l| l.request.payload().cloned())
            .collect();
        let fixed = (!requests.draws()).then(|| Pick {
            line: 0,
            size: size_u32(sizes[0].as_ref().map_or(0, Payload::min)),
        });
        let mut sum = 0;
        let cumulative = requests
            .lines()
            .iter()
            .map(|l| {
                sum += u64::from(l.weight);
                sum
            })
            .collect();
        Arc::new(Table {
            fixed,
            cumulative,
            sizes,
        })
    }

    fn for_table(table: Arc<Table>, seed: u64, index: u64) -> Picker {
        // Each connection starts its stream at a hashed place: seeds a multiple of SplitMix64's
        // own increment apart would give connections one stream, shifted.
        let start = SplitMix64::new(seed ^ index.wrapping_mul(0xA24B_AED4_963E_E407)).next_u64();
        Picker {
            rng: SplitMix64::new(start),
            table,
        }
    }

    /// A picker for connection number `index` of the same run, sharing this one's table
    /// (connections are made from one picker per thread: the table is built once).
    pub fn for_connection(&self, seed: u64, index: u64) -> Picker {
        Picker::for_table(self.table.clone(), seed, index)
    }

    /// The next request's line and size.
    #[inline]
    pub fn pick(&mut self) -> Pick {
        if let Some(p) = self.table.fixed {
            return p;
        }
        let t = &*self.table;
        let line = match t.cumulative.as_slice() {
            [_] => 0,
            c => {
                let total = c[c.len() - 1];
                let x = below(self.rng.next_u64(), total) as u64;
                c.partition_point(|&s| s <= x)
            }
        };
        let size = t.sizes[line].as_ref().map_or(0, |p| p.draw(&mut self.rng));
        Pick {
            line: line as u16,
            size: size_u32(size),
        }
    }
}

/// A size as carried per request (validation keeps sizes far below 4 GiB).
fn size_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::super::mix::work_mix as mix;
    use super::*;

    #[test]
    fn many_connections_draw_the_weights_and_the_seed_repeats_them() {
        let r = mix(&[7, 2, 1]);
        let proto = Picker::new(&r, 0);
        let mut counts = [0u64; 3];
        // 64 connections of 250 requests each, as a short closed-loop run makes them.
        let mut firsts = Vec::new();
        for c in 0..64 {
            let mut p = proto.for_connection(r.seed(), c);
            let seq: Vec<u16> = (0..250).map(|_| p.pick().line).collect();
            for &l in &seq {
                counts[usize::from(l)] += 1;
            }
            firsts.push(seq);
        }
        let n: f64 = 64.0 * 250.0;
        for (count, share) in counts.iter().zip([0.7f64, 0.2, 0.1]) {
            // Within 4 standard deviations of a binomial share.
            let sd = (share * (1.0 - share) / n).sqrt();
            assert!((*count as f64 / n - share).abs() < 4.0 * sd, "{counts:?}");
        }
        assert_ne!(firsts[0], firsts[1], "connections draw apart");
        let mut again = proto.for_connection(r.seed(), 1);
        assert!(firsts[1].iter().all(|&l| l == again.pick().line));
    }
}
