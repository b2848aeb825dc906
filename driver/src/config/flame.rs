//! Sampling the target's stacks over the measured window (`--flame`).

use serde::{Deserialize, Serialize};

pub use crate::host::perf::Unwind;

/// How the target is sampled for a flame graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlameSpec {
    /// Samples a second of each of the target's threads while it is on a CPU.
    pub hz: u32,
    /// How stacks are unwound.
    pub unwind: Unwind,
}

impl Default for FlameSpec {
    fn default() -> Self {
        FlameSpec {
            hz: super::defaults::FLAME_HZ,
            unwind: Unwind::Dwarf,
        }
    }
}
