//! What this host lets a process use: CPUs and open descriptors. Both bound what a benchmark can
//! do (every connection is a descriptor), so both binaries read them the same way and reports
//! record them.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// CPUs this process may run on (respects taskset and cgroups), at least 1.
pub fn available_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The descriptor limits (RLIMIT_NOFILE) before and after [`raise_nofile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimits {
    /// Soft limit when the process started.
    pub soft_before: u64,
    /// Soft limit now: the most descriptors this process may have open.
    pub soft: u64,
    /// Hard limit (only root can raise it, and not past fs.nr_open).
    pub hard: u64,
}

impl std::fmt::Display for NofileLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.soft_before == self.soft {
            write!(f, "open files: soft {} hard {}", self.soft, self.hard)
        } else {
            write!(
                f,
                "open files: soft {} (raised from {}) hard {}",
                self.soft, self.soft_before, self.hard
            )
        }
    }
}

/// The limits in force now, without changing them.
pub fn nofile() -> nix::Result<NofileLimits> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    Ok(NofileLimits {
        soft_before: soft,
        soft,
        hard,
    })
}

/// Raises RLIMIT_NOFILE's soft limit to the hard limit: every connection is a descriptor, and the
/// default soft limit (often 1024) would cap a benchmark long before the machine does.
pub fn raise_nofile() -> nix::Result<NofileLimits> {
    let (soft_before, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft_before < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    Ok(NofileLimits {
        soft_before,
        soft,
        hard,
    })
}

/// The symbolic name of an OS error (`EMFILE`), or its number when it has none.
pub fn errno_name(code: i32) -> String {
    let e = nix::errno::Errno::from_raw(code);
    if e == nix::errno::Errno::UnknownErrno {
        format!("errno {code}")
    } else {
        format!("{e:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_reaches_the_hard_limit() {
        let l = raise_nofile().unwrap();
        assert_eq!(l.soft, l.hard);
        assert!(l.soft >= l.soft_before);
        assert_eq!(nofile().unwrap().soft, l.soft);
    }

    #[test]
    fn errnos_have_their_names() {
        assert_eq!(errno_name(libc_emfile()), "EMFILE");
        assert_eq!(errno_name(111), "ECONNREFUSED");
        assert_eq!(errno_name(99_999), "errno 99999");
    }

    fn libc_emfile() -> i32 {
        nix::errno::Errno::EMFILE as i32
    }
}
