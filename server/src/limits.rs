//! Process limits a many-connection server depends on.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// The descriptor limits before and after [`raise_nofile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimits {
    /// Soft limit when the process started.
    pub soft_before: u64,
    /// Soft limit now.
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

#[cfg(test)]
mod tests {
    #[test]
    fn raise_reaches_the_hard_limit() {
        let l = super::raise_nofile().unwrap();
        assert_eq!(l.soft, l.hard);
        assert!(l.soft >= l.soft_before);
    }
}
