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
    /// 64 random bits, hex, drawn when the run began: what tells two runs apart when all the
    /// rest is equal (a storm's processes share command, configuration, host and, to the
    /// clock's resolution, their start). Empty in results from before it was kept.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run_id: String,
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
            run_id: new_run_id(),
        }
    }
}

/// 64 bits from the kernel's random source; failing that (no /dev/urandom), the clock and the
/// process id, which still differ between processes started together.
fn new_run_id() -> String {
    use std::io::Read as _;
    let mut bits = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bits));
    let id = match random {
        Ok(()) => u64::from_le_bytes(bits),
        Err(_) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            now ^ (u64::from(std::process::id()) << 32)
        }
    };
    format!("{id:016x}")
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
        let again = Manifest::new(&BenchConfig::default(), m.command.clone());
        assert_eq!(m.run_id.len(), 16);
        assert_ne!(m.run_id, again.run_id, "two runs, two identities");
    }
}
