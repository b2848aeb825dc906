//! The manifest every result carries, so a number can be read (and trusted, or questioned) long
//! after the run: which nines built it, the command and full configuration, and the machine —
//! kernel, CPU, cores, descriptor limits and the sysctls that change network benchmarks.

use serde::{Deserialize, Serialize};

use crate::config::BenchConfig;
use crate::host::HostInfo;

/// nines version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Git commit of this build (`-dirty` when built from uncommitted changes; `unknown` outside git).
pub const GIT_COMMIT: &str = env!("NINES_GIT_COMMIT");

/// Where and how a run was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// nines version.
    pub nines_version: String,
    /// Git commit nines was built from.
    pub git_commit: String,
    /// The command line, when the run came from one.
    pub command: Vec<String>,
    /// The run's full configuration.
    pub config: BenchConfig,
    /// The driver's machine.
    pub host: HostInfo,
}

impl Manifest {
    /// The manifest of a run of `config` on this machine now, made by `command`.
    pub fn new(config: &BenchConfig, command: Vec<String>) -> Manifest {
        Manifest {
            nines_version: VERSION.to_string(),
            git_commit: GIT_COMMIT.to_string(),
            command,
            config: config.clone(),
            host: HostInfo::collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_names_the_build_and_the_machine() {
        let m = Manifest::new(
            &BenchConfig::default(),
            vec!["nines".into(), "bench".into()],
        );
        assert_eq!(m.nines_version, VERSION);
        assert!(!m.git_commit.is_empty());
        assert!(m.host.cores >= 1 && m.host.nofile_hard >= m.host.nofile_soft);
        let back: Manifest = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
