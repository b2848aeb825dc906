//! What this process holds — resident memory, open descriptors, threads, sockets — for the
//! Stats reply: how a driver on another machine, which cannot read this server's /proc, sees
//! whether the server grows under load. The same files the driver reads for a server on its own
//! machine (`status`, the `fd` directory, which descriptors are sockets), so the two agree.
//!
//! Counting sockets means a look at every descriptor (a readlink, 2-3 µs): some 20-30 ms at
//! 10,000 connections. A pooled worker answering Stats would hold all its other connections
//! that long, once a second while a driver polls: a stall the tail would show. So while Stats
//! requests keep coming the reading is made on a thread of its own (`nines-held`), every
//! [`MIN_PERIOD`] (less often with very many descriptors: it takes at most a twentieth of one
//! core), and a reply carries its latest reading; only the first request after a quiet spell ([`IDLE`] without one) reads on the
//! thread that answers, so a one-off query is fresh and a poller never waits on /proc.
//!
//! Each process reads itself: with `--processes N`, a Stats reply describes the one process
//! that holds the connection it came on. Embedded in another program (the driver's `nines
//! bench` with no target), the reading is of that whole process.

use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use nines_protocol::stats::ProcessUsage;

/// Shortest time between two readings on the sampling thread.
pub const MIN_PERIOD: Duration = Duration::from_millis(250);
/// How long the sampling thread goes on reading after the last Stats request.
pub const IDLE: Duration = Duration::from_secs(5);
/// The sampling thread waits this many times as long as its last reading took: at most
/// 1/(1 + 19) of one core, however many descriptors there are.
const WAIT_PER_READ_TIME: u32 = 19;

#[derive(Debug)]
struct State {
    /// The latest reading.
    latest: Option<ProcessUsage>,
    /// The last Stats request.
    asked: Option<Instant>,
    /// Whether the sampling thread is taking readings (a request came within [`IDLE`]).
    sampling: bool,
    /// Its wait between readings.
    period: Duration,
}

static STATE: Mutex<State> = Mutex::new(State {
    latest: None,
    asked: None,
    sampling: false,
    period: MIN_PERIOD,
});
static WAKE: Condvar = Condvar::new();
/// Whether the sampling thread is running (started at the first Stats request).
static SAMPLER: OnceLock<bool> = OnceLock::new();

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What this process holds, for a Stats reply: the sampling thread's latest reading while Stats
/// requests keep coming, else one read now (which starts the sampling thread). None when /proc
/// cannot be read.
pub fn reading() -> Option<ProcessUsage> {
    let sampler = *SAMPLER.get_or_init(|| {
        std::thread::Builder::new()
            .name("nines-held".into())
            .spawn(sample)
            .is_ok()
    });
    let mut st = state();
    st.asked = Some(Instant::now());
    if st.sampling {
        if let Some(u) = st.latest {
            return Some(u);
        }
    }
    // A quiet spell: read here, once, and have the sampling thread take over.
    st.sampling = sampler;
    drop(st);
    WAKE.notify_one();
    let u = read_self();
    state().latest = u;
    u
}

/// The sampling thread: while asked, a reading every period; else waits to be woken.
fn sample() {
    let mut st = state();
    loop {
        while !st.sampling {
            st = WAKE.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        let period = st.period;
        st = WAKE
            .wait_timeout(st, period)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        if st.asked.is_none_or(|at| at.elapsed() > IDLE) {
            st.sampling = false;
            continue;
        }
        drop(st);
        let started = Instant::now();
        let u = read_self();
        let took = started.elapsed();
        st = state();
        st.latest = u;
        st.period = MIN_PERIOD.max(took * WAIT_PER_READ_TIME);
    }
}

/// This process's usage from /proc/self.
fn read_self() -> Option<ProcessUsage> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    };
    let (fds, sockets) = descriptors()?;
    Some(ProcessUsage {
        rss_bytes: field("VmRSS:")? * 1024,
        fds,
        threads: field("Threads:")?,
        sockets,
    })
}

/// Open descriptors, and how many are sockets (their link reads `socket:[INODE]`, as the
/// driver tells them for a process on its machine). Descriptors open on /proc are this process
/// reading itself at this moment — this listing, or another thread reading its CPU time for a
/// Stats reply — and are not counted, nor those closed before their link could be read.
fn descriptors() -> Option<(u64, u64)> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    let (mut fds, mut sockets) = (0u64, 0u64);
    for entry in dir.flatten() {
        let Ok(link) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let link = link.as_os_str().as_encoded_bytes();
        if link.starts_with(b"/proc/") {
            continue;
        }
        fds += 1;
        sockets += u64::from(link.starts_with(b"socket:"));
    }
    Some((fds, sockets))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reading of this process counts its descriptors and sockets exactly (a listener
    /// opened between two readings is one more of each) and its memory and threads.
    #[test]
    fn this_process_is_read_with_its_descriptors_and_sockets() {
        // Other tests of this binary open and close sockets at the same time, so a try that
        // counts wrong may be their doing: the reading must be right in one try of many in
        // which nothing else changed the table (the counts before and after agree).
        let mut tries = Vec::new();
        for _ in 0..100 {
            let before = read_self().expect("/proc/self");
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let during = read_self().unwrap();
            drop(listener);
            let after = read_self().unwrap();
            let still = (before.fds, before.sockets) == (after.fds, after.sockets);
            if still && during.fds == before.fds + 1 && during.sockets == before.sockets + 1 {
                assert!(during.rss_bytes > 0 && during.threads >= 1, "{during:?}");
                return;
            }
            tries.push((before, during, after));
        }
        panic!("never one more descriptor and socket: {:?}", &tries[..3]);
    }

    /// The first request reads at once and starts the sampling thread; requests while it runs
    /// get its readings, renewed every period without a read on the asking thread.
    #[test]
    fn a_polled_process_is_read_by_its_sampling_thread() {
        let first = reading().expect("/proc/self");
        assert!(first.rss_bytes > 0 && first.fds > 0, "{first:?}");
        // A new thread names itself once it runs: wait for that.
        let named = || {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .flatten()
                .any(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.trim() == "nines-held")
                })
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !named() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(named(), "the sampling thread runs");
        // A reading no /proc gives: while sampling, requests are served it until the
        // sampling thread replaces it (the asking thread reads nothing itself).
        let marked = ProcessUsage {
            fds: u64::MAX,
            ..first
        };
        {
            let mut st = state();
            assert!(st.sampling, "sampling after a request");
            st.latest = Some(marked);
        }
        assert_eq!(reading(), Some(marked));
        let deadline = Instant::now() + 20 * MIN_PERIOD;
        let mut seen = marked;
        while seen == marked && Instant::now() < deadline {
            std::thread::sleep(MIN_PERIOD / 5);
            seen = reading().unwrap();
        }
        assert!(seen.fds < u64::MAX && seen.rss_bytes > 0, "{seen:?}");
    }
}
