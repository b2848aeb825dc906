//! What one `Instant::now()` costs on this machine: the unit price of the phase profile, which
//! reads the clock about five times per read batch (see docs/results/phase-profile.md).
//!
//! Usage: cargo run --release --example clock_cost

use std::time::Instant;

fn main() {
    const N: u32 = 20_000_000;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut last = start;
        for _ in 0..N {
            last = std::hint::black_box(Instant::now());
        }
        let per = last.duration_since(start).as_nanos() as f64 / f64::from(N);
        best = best.min(per);
    }
    println!("Instant::now(): {best:.1} ns per call (best of 5 x {N})");
}
