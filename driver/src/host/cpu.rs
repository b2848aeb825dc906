//! CPU time of threads and processes, from /proc (through nines-common's reader, which
//! nines-server uses for its own Stats replies too).

use std::collections::BTreeMap;

/// CPU time per thread, keyed by (pid, tid), with the thread's name: ns.
pub type ThreadTimes = BTreeMap<(u32, u32), (String, u64)>;

/// Every thread of `pids` (only nines-server's own threads when `server_threads_only`: the
/// server embedded in this process, beside the driver's threads).
pub fn thread_times(pids: &[u32], server_threads_only: bool) -> ThreadTimes {
    let mut out = ThreadTimes::new();
    for &pid in pids {
        for t in nines_common::cpu::threads(pid) {
            if !server_threads_only || nines_common::cpu::is_server_thread(&t.name) {
                out.insert((pid, t.tid), (t.name, t.ns));
            }
        }
    }
    out
}

/// The CPU time of whole processes (threads that exited included), ns; None if one is
/// unreadable.
pub fn process_cpu_ns(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|&p| nines_common::cpu::process(p)).sum()
}
