//! The facts about the driver's machine that every result carries in its manifest: kernel, CPU,
//! cores, descriptor limits and the sysctls that change network benchmarks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
        let nofile = super::nofile();
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
    fn the_machine_is_described() {
        let h = HostInfo::collect();
        assert!(h.cores >= 1 && h.nofile_hard >= h.nofile_soft);
        assert!(
            h.sysctls.contains_key("net.core.somaxconn"),
            "{:?}",
            h.sysctls
        );
    }
}
