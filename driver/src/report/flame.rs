//! Where the target's CPU went over the measured window: perf's samples folded into stacks
//! (kept whole, so a flame graph can be drawn from a saved result and two results diffed),
//! with the shares a reader looks for first: each thread's, the hottest frames by self and by
//! total, and the cause the largest of them points at.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::host::perf::Unwind;

/// Frames listed as hottest, by self and by total share.
pub const HOTTEST: usize = 10;
/// A frame in at least this share of the samples is a trunk every stack passes through
/// (thread start, the event loop), not a place the time goes: left out of the widest frames.
const TRUNK_PCT: f64 = 90.0;
/// The frame perf names when it cannot resolve one: counted in the samples, never named as
/// hot.
const UNKNOWN: &str = "[unknown]";
/// A cause under this share of the samples is not worth a sentence.
const CAUSE_PCT: f64 = 25.0;
/// Fewest samples a cause is named from: with fewer, a share's error is over ±10 points.
pub const MIN_SAMPLES: u64 = 100;

/// The flame graph of a run, or why there is none.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Flame {
    /// Sampled over the measured window.
    Sampled(Box<FlameGraph>),
    /// Asked for, not taken: why, and what to do.
    Unavailable {
        /// One line with the remedy.
        reason: String,
    },
}

/// The target's stacks sampled over the measured window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FlameGraph {
    /// How stacks were unwound.
    pub unwinding: Unwind,
    /// Samples a second of each of the target's threads while it is on a CPU.
    pub hz: u32,
    /// Seconds sampled (the measured window).
    pub seconds: f64,
    /// Samples taken.
    pub samples: u64,
    /// Whether kernel frames were sampled (not when perf_event_paranoid allows user frames only).
    pub kernel_frames: bool,
    /// Each thread's share of the samples, largest first.
    pub threads: Vec<Share>,
    /// The frames most samples were in, largest self share first.
    pub hottest: Vec<HotFrame>,
    /// The frames most samples passed through (trunks left out), largest total share first.
    pub widest: Vec<HotFrame>,
    /// The samples folded: `thread;outer;...;inner count`, one line per distinct stack.
    pub folded: Vec<String>,
}

/// A thread's share of the samples.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Share {
    /// The thread's name.
    pub name: String,
    /// Percent of the samples.
    pub pct: f64,
}

/// A frame's shares of the samples.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HotFrame {
    /// The function.
    pub frame: String,
    /// Percent of the samples in the frame itself.
    pub self_pct: f64,
    /// Percent of the samples in the frame or anything it called.
    pub total_pct: f64,
}

/// A place time goes that a reader can act on: when a frame (or one of several) holds this much
/// of the samples, the diagnosis says so and what would help.
#[derive(Debug)]
pub struct Cause {
    /// Frames whose samples count (a trailing `*` matches a prefix).
    frames: &'static [&'static str],
    /// What the time is spent on.
    pub what: &'static str,
    /// What would help.
    pub advice: &'static str,
}

/// The causes, most specific first: a stack counts for the first cause it falls under.
pub const CAUSES: &[Cause] = &[
    Cause {
        frames: &["tcp_sendmsg"],
        what: "writing to sockets (tcp_sendmsg)",
        advice: "syscall-bound: pipelining requests or batching writes (one writev per wakeup) would help",
    },
    Cause {
        frames: &["tcp_recvmsg"],
        what: "reading from sockets (tcp_recvmsg)",
        advice: "syscall-bound: reading more per call (larger buffers, fewer wakeups per request) would help",
    },
    Cause {
        frames: &["do_epoll_wait", "ep_poll"],
        what: "epoll_wait (samples are taken on CPU only: this is the cost of the calls, not idle time)",
        advice: "many wakeups with little work each: more work per wakeup (more connections per worker, pipelining) would help",
    },
    Cause {
        frames: &["__sys_accept4", "do_accept", "inet_csk_accept"],
        what: "accepting connections",
        advice: "connection setup dominates: keep-alive or fewer reconnects would help",
    },
    Cause {
        frames: &["malloc", "free", "cfree", "realloc", "_int_malloc", "_int_free", "__rust_alloc", "__rust_dealloc"],
        what: "allocating memory",
        advice: "allocation per request: reusing buffers would help",
    },
    Cause {
        frames: &["__memmove*", "__memcpy*", "memcpy", "memmove"],
        what: "copying memory",
        advice: "copies dominate: writing from the buffer read into would help",
    },
    Cause {
        frames: &["entry_SYSCALL_64*", "do_syscall_64"],
        what: "system calls",
        advice: "syscall-bound: fewer, larger system calls (batching, pipelining) would help",
    },
];

impl Cause {
    fn holds(&self, frame: &str) -> bool {
        self.frames.iter().any(|f| match f.strip_suffix('*') {
            Some(prefix) => frame.starts_with(prefix),
            None => frame == *f,
        })
    }
}

/// One folded line split: its frames (thread first) and its sample count.
fn split(line: &str) -> Option<(Vec<&str>, u64)> {
    let (stack, count) = line.rsplit_once(' ')?;
    Some((stack.split(';').collect(), count.parse().ok()?))
}

/// Samples counted per thread, per frame they were in (self) and per frame they passed
/// through (total, once per stack however often the frame recurs in it).
#[derive(Default)]
struct Counts<'a> {
    samples: u64,
    threads: BTreeMap<&'a str, u64>,
    own: BTreeMap<&'a str, u64>,
    under: BTreeMap<&'a str, u64>,
}

impl<'a> Counts<'a> {
    fn of(folded: &'a [String]) -> Counts<'a> {
        let mut c = Counts::default();
        for (frames, n) in folded.iter().filter_map(|l| split(l)) {
            c.samples += n;
            let Some((thread, calls)) = frames.split_first() else {
                continue;
            };
            *c.threads.entry(thread).or_default() += n;
            if let Some(leaf) = calls.last().filter(|f| **f != UNKNOWN) {
                *c.own.entry(leaf).or_default() += n;
            }
            let mut seen: Vec<&str> = calls.iter().copied().filter(|f| *f != UNKNOWN).collect();
            seen.sort_unstable();
            seen.dedup();
            for f in seen {
                *c.under.entry(f).or_default() += n;
            }
        }
        c
    }

    fn pct(&self, n: u64) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            100.0 * n as f64 / self.samples as f64
        }
    }

    fn frame(&self, f: &str) -> HotFrame {
        HotFrame {
            frame: f.to_string(),
            self_pct: self.pct(self.own.get(f).copied().unwrap_or(0)),
            total_pct: self.pct(self.under.get(f).copied().unwrap_or(0)),
        }
    }

    /// The frames with the most samples in `counts`, largest first, those `keep` takes.
    fn top(&self, counts: &BTreeMap<&str, u64>, keep: impl Fn(&HotFrame) -> bool) -> Vec<HotFrame> {
        let mut v: Vec<(&str, u64)> = counts.iter().map(|(f, n)| (*f, *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.into_iter()
            .map(|(f, _)| self.frame(f))
            .filter(keep)
            .take(HOTTEST)
            .collect()
    }
}

impl FlameGraph {
    /// The graph of `folded` lines sampled over `seconds` at `hz`.
    pub fn new(
        folded: Vec<String>,
        unwinding: Unwind,
        hz: u32,
        seconds: f64,
        kernel_frames: bool,
    ) -> FlameGraph {
        let c = Counts::of(&folded);
        let mut threads: Vec<Share> = c
            .threads
            .iter()
            .map(|(name, n)| Share {
                name: name.to_string(),
                pct: c.pct(*n),
            })
            .collect();
        threads.sort_by(|a, b| b.pct.total_cmp(&a.pct));
        let hottest = c.top(&c.own, |_| true);
        let widest = c.top(&c.under, |h| h.total_pct < TRUNK_PCT);
        let samples = c.samples;
        FlameGraph {
            unwinding,
            hz,
            seconds,
            samples,
            kernel_frames,
            threads,
            hottest,
            widest,
            folded,
        }
    }

    /// The largest cause the samples fall under, with its share, when it is worth saying.
    pub fn cause(&self) -> Option<(f64, &'static Cause)> {
        if self.samples < MIN_SAMPLES {
            return None;
        }
        let mut counts = vec![0u64; CAUSES.len()];
        for (frames, n) in self.folded.iter().filter_map(|l| split(l)) {
            if let Some(i) = CAUSES
                .iter()
                .position(|c| frames[1..].iter().any(|f| c.holds(f)))
            {
                counts[i] += n;
            }
        }
        let (i, n) = counts.iter().enumerate().max_by_key(|(_, n)| **n)?;
        let pct = 100.0 * *n as f64 / self.samples.max(1) as f64;
        (pct >= CAUSE_PCT).then_some((pct, &CAUSES[i]))
    }
}

/// The graphs of several runs of one configuration as one: their stacks' samples added (the
/// longer runs weigh more, as they have more samples). None when no graph is given, or when
/// they were sampled at different rates or unwound differently (their samples do not add).
pub fn combined(graphs: &[&FlameGraph]) -> Option<FlameGraph> {
    let first = graphs.first()?;
    if graphs
        .iter()
        .any(|g| g.hz != first.hz || g.unwinding != first.unwinding)
    {
        return None;
    }
    if graphs.len() == 1 {
        return Some((*first).clone());
    }
    let mut stacks: BTreeMap<&str, u64> = BTreeMap::new();
    for g in graphs {
        for (stack, n) in g.folded.iter().filter_map(|l| l.rsplit_once(' ')) {
            *stacks.entry(stack).or_default() += n.parse::<u64>().unwrap_or(0);
        }
    }
    let folded = stacks.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let seconds = graphs.iter().map(|g| g.seconds).sum();
    let kernel = graphs.iter().all(|g| g.kernel_frames);
    Some(FlameGraph::new(
        folded,
        first.unwinding,
        first.hz,
        seconds,
        kernel,
    ))
}

/// The frames whose total share moved most from `a` to `b` (each a percent of its own graph's
/// samples, so runs of different lengths compare), with their shares before and after; trunks
/// left out.
pub fn shifts(a: &FlameGraph, b: &FlameGraph, n: usize) -> Vec<(String, f64, f64)> {
    let (ca, cb) = (Counts::of(&a.folded), Counts::of(&b.folded));
    let share = |c: &Counts<'_>, f: &str| c.pct(c.under.get(f).copied().unwrap_or(0));
    let names: std::collections::BTreeSet<&str> =
        ca.under.keys().chain(cb.under.keys()).copied().collect();
    let mut moved: Vec<(String, f64, f64)> = names
        .into_iter()
        .map(|f| (f.to_string(), share(&ca, f), share(&cb, f)))
        .filter(|(_, x, y)| x.max(*y) < TRUNK_PCT)
        .collect();
    moved.sort_by(|x, y| {
        (y.2 - y.1)
            .abs()
            .total_cmp(&(x.2 - x.1).abs())
            .then(x.0.cmp(&y.0))
    });
    moved.truncate(n);
    moved
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(lines: &[&str]) -> FlameGraph {
        FlameGraph::new(
            lines.iter().map(|s| s.to_string()).collect(),
            Unwind::Dwarf,
            499,
            1.0,
            true,
        )
    }

    #[test]
    fn shares_are_of_all_samples_and_a_frame_counts_once_per_stack() {
        let g = graph(&[
            "w-0;main;run;read;tcp_recvmsg 30",
            "w-0;main;run;write;tcp_sendmsg 60",
            "w-1;main;run;run;parse 10",
        ]);
        assert_eq!(g.samples, 100);
        assert_eq!(
            g.threads[0],
            Share {
                name: "w-0".into(),
                pct: 90.0
            }
        );
        assert_eq!(g.hottest[0].frame, "tcp_sendmsg");
        assert_eq!(g.hottest[0].self_pct, 60.0);
        // `run` recurs in the last stack but counts once: 100%, a trunk, so not among the widest.
        assert!(g
            .widest
            .iter()
            .all(|h| h.frame != "run" && h.frame != "main"));
        assert_eq!(
            g.widest[0],
            HotFrame {
                frame: "tcp_sendmsg".into(),
                self_pct: 60.0,
                total_pct: 60.0
            }
        );
    }

    #[test]
    fn the_cause_is_the_largest_share_past_its_floor() {
        let g = graph(&[
            "w;run;write;entry_SYSCALL_64_after_hwframe;do_syscall_64;tcp_sendmsg;copy 61",
            "w;run;parse 39",
        ]);
        let (pct, cause) = g.cause().expect("61% under tcp_sendmsg");
        assert_eq!(pct, 61.0);
        assert!(cause.what.contains("tcp_sendmsg"));
        assert!(graph(&["w;run;parse 90", "w;run;malloc 10"])
            .cause()
            .is_none());
    }

    #[test]
    fn runs_combine_by_adding_their_stacks() {
        let (a, b) = (
            graph(&["w;run;parse 3", "w;run;write 1"]),
            graph(&["w;run;parse 1"]),
        );
        let c = combined(&[&a, &b]).expect("two graphs");
        assert_eq!(c.samples, 5);
        assert_eq!(
            c.folded,
            vec!["w;run;parse 4".to_string(), "w;run;write 1".to_string()]
        );
        assert_eq!(c.seconds, 2.0);
        let faster = FlameGraph {
            hz: 999,
            ..b.clone()
        };
        assert!(
            combined(&[&a, &faster]).is_none(),
            "samples at two rates do not add"
        );
    }

    #[test]
    fn shifts_name_what_moved_most() {
        let a = graph(&["w;run;write;tcp_sendmsg 50", "w;run;parse 50"]);
        let b = graph(&["w;run;write;tcp_sendmsg 20", "w;run;parse 80"]);
        let s = shifts(&a, &b, 2);
        assert_eq!(s.len(), 2);
        assert!(
            s.iter()
                .any(|(f, x, y)| f == "parse" && *x == 50.0 && *y == 80.0),
            "{s:?}"
        );
    }
}
