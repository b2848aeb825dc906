//! The host under the run: every reading of /proc and of the kernel's settings the driver makes,
//! in one leaf module — CPU time of threads and processes, resident memory, open descriptors,
//! TCP socket counts and counters, which process listens on a port, the descriptor limit, and
//! the facts a manifest records (kernel, CPU, sysctls).
//!
//! These read the machine the driver runs on: over loopback that is the server's too; a server
//! on another machine reports its own CPU through the nines Stats op instead.

mod cpu;
mod info;
pub mod kernel;
mod listeners;
mod memory;
pub mod perf;
mod usage;

pub use cpu::{process_cpu_ns, thread_times, ThreadTimes};
pub use info::{HostInfo, KEY_SYSCTLS};
pub use kernel::{KernelCounters, KernelDelta};
pub use listeners::{listening_pids, served_here, server_pids};
pub use memory::{open_fds, rss_kib, sockstat, SockStat};
pub use usage::{usage, Usage};

/// The descriptor limits of this process (RLIMIT_NOFILE), if they can be read.
pub fn nofile() -> Option<nines_common::sys::NofileLimits> {
    nines_common::sys::nofile().ok()
}
