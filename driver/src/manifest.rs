//! The manifest every result carries, so a number can be read (and trusted, or questioned) long
//! after the run: which nines built it, the command and full configuration, and the machine —
//! kernel, CPU, cores, descriptor limits and the sysctls that change network benchmarks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::BenchConfig;

/// nines version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Git commit of this build (`-dirty` when built from uncommitted changes; `unknown` outside git).
pub const GIT_COMMIT: &str = env!("NINES_GIT_COMMIT");

/// Kernel settings that change network benchmark results, as `sysctl name -> /proc path`.
pub const KEY_SYSCTLS: &[(&str, &str)] = &[
    ("net.core.somaxconn", "/proc/sys/net/core/somaxconn"),
    (
        "net.ipv4.tcp_max_syn_backlog",
        "/proc/sys/net/ipv4/tcp_max_syn_backlog",
    ),
    (
        "net.core.netdev_max_backlog",
        "/proc/sys/net/core/netdev_max_backlog",
    ),
    (
        "net.ipv4.ip_local_port_range",
        "/proc/sys/net/ipv4/ip_local_port_range",
    ),
    ("net.ipv4.tcp_tw_reuse", "/proc/sys/net/ipv4/tcp_tw_reuse"),
    (
        "net.ipv4.tcp_fin_timeout",
        "/proc/sys/net/ipv4/tcp_fin_timeout",
    ),
    ("net.ipv4.tcp_rmem", "/proc/sys/net/ipv4/tcp_rmem"),
    ("net.ipv4.tcp_wmem", "/proc/sys/net/ipv4/tcp_wmem"),
    ("fs.file-max", "/proc/sys/fs/file-max"),
    ("fs.nr_open", "/proc/sys/fs/nr_open"),
];

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

/// Facts about the driver's machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostInfo {
    /// Host name.
    pub hostname: String,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// CPU model name.
    pub cpu_model: String,
    /// CPUs this process may use.
    pub cores: usize,
    /// RLIMIT_NOFILE soft limit in force.
    pub nofile_soft: u64,
    /// RLIMIT_NOFILE hard limit.
    pub nofile_hard: u64,
    /// Values of [`KEY_SYSCTLS`] that could be read (whitespace collapsed).
    pub sysctls: BTreeMap<String, String>,
}

fn read_trimmed(path: &str) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    Some(s.split_whitespace().collect::<Vec<_>>().join(" "))
}

impl HostInfo {
    /// Reads the facts now.
    pub fn collect() -> HostInfo {
        let nofile = nines_common::sys::nofile().ok();
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        HostInfo {
            hostname: read_trimmed("/proc/sys/kernel/hostname").unwrap_or_else(|| "unknown".into()),
            kernel: read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into()),
            cpu_model,
            cores: nines_common::sys::available_cpus(),
            nofile_soft: nofile.map_or(0, |l| l.soft),
            nofile_hard: nofile.map_or(0, |l| l.hard),
            sysctls: KEY_SYSCTLS
                .iter()
                .filter_map(|(name, path)| read_trimmed(path).map(|v| (name.to_string(), v)))
                .collect(),
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
        assert!(
            m.host.sysctls.contains_key("net.core.somaxconn"),
            "{:?}",
            m.host.sysctls
        );
        let back: Manifest = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
