//! CPU time of a process's threads, from /proc: how the driver measures a server on this machine
//! and how nines-server reports its own threads through the Stats op when the driver cannot see
//! it. One reader, so both ways measure the same thing (utime + stime, which includes the
//! kernel's work on the thread's behalf: syscalls and the softirqs charged to it).

/// Name prefix of nines-server's event-loop workers (`nines-worker-0`, ...).
pub const WORKER_THREAD: &str = "nines-worker";
/// Name prefix of its acceptor threads (`nines-accept-0`, ...: Linux keeps 15 bytes of a name).
pub const ACCEPTOR_THREAD: &str = "nines-accept";
/// Name of each thread of the thread-per-connection model.
pub const CONN_THREAD: &str = "nines-conn";

/// Whether a thread is one of nines-server's (an embedded server shares its process with the
/// driver, so its threads are told apart by name).
pub fn is_server_thread(name: &str) -> bool {
    is_loop_thread(name) || name == CONN_THREAD
}

/// Whether a thread is a long-lived worker or acceptor, one that saturates as a whole core.
/// (Linux keeps 15 bytes of a name; both prefixes fit.)
pub fn is_loop_thread(name: &str) -> bool {
    name.starts_with(WORKER_THREAD) || name.starts_with(ACCEPTOR_THREAD)
}

/// One thread's CPU time so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCpu {
    /// Thread id.
    pub tid: u32,
    /// Its name (`comm`), e.g. `nines-worker-0`.
    pub name: String,
    /// User plus system time, in nanoseconds (at the kernel's tick resolution).
    pub ns: u64,
}

/// Every thread of process `pid` with its CPU time so far; empty when the process is gone or
/// /proc cannot be read.
pub fn threads(pid: u32) -> Vec<ThreadCpu> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in tasks.flatten() {
        let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        if let Some((name, ticks)) = parse_stat(&stat) {
            out.push(ThreadCpu {
                tid,
                name,
                ns: ticks_to_ns(ticks),
            });
        }
    }
    out
}

/// User plus system time of process `pid` so far, in nanoseconds: all its threads, including
/// those that have exited (a thread-per-connection server's threads end with their
/// connections, often before anyone looks). None when /proc cannot be read.
pub fn process(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, ticks) = parse_stat(&stat)?;
    Some(ticks_to_ns(ticks))
}

/// The name and utime + stime (in clock ticks) of a `/proc/PID/stat` or
/// `/proc/PID/task/TID/stat` line.
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    // The name is in parentheses and may hold spaces or parentheses itself; utime and stime are
    // fields 14 and 15, i.e. the 12th and 13th after the last closing parenthesis.
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let name = stat.get(open + 1..close)?.to_string();
    let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some((name, field(11)? + field(12)?))
}

fn ticks_to_ns(ticks: u64) -> u64 {
    (ticks as f64 * 1e9 / clock_ticks_per_second()) as u64
}

fn clock_ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |v| v as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_its_name_and_cpu_ticks() {
        let line = "4242 (nines (worker) 0) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(
            parse_stat(line),
            Some(("nines (worker) 0".to_string(), 300))
        );
        assert_eq!(parse_stat("4242 (short) S 1 2"), None);
    }

    #[test]
    fn this_process_has_a_thread_with_cpu_time() {
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed().as_millis() < 50 {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let me = threads(std::process::id());
        assert!(me.iter().any(|t| t.ns > 0), "{me:?}");
        assert!(threads(u32::MAX).is_empty());
        let all = process(std::process::id()).unwrap();
        assert!(
            all >= me.iter().map(|t| t.ns).max().unwrap(),
            "{all} {me:?}"
        );
        assert_eq!(process(u32::MAX), None);
    }
}
