"""Shares of a folded-stack profile (inferno-collapse-perf --all: one `frame;frame;... count`
line per stack, kernel frames ending in `_[k]`), for reading a flame graph in numbers: the
share of samples under each named frame, kernel against user leaves, and how well the stacks
unwound: how many reach the thread's start, and how many name nines-server code at all. Every
sample of a worker is taken under its event loop, so a stack with no `nines_server::` frame is
broken: its samples hang from whatever frame the unwinder stopped at (glibc's `__send`, say),
not from the code that called it. (With frame pointers a stack can also reach the thread's start
and still skip the frames between: check the second figure.)

    python3 scripts/lib/flame_shares.py FILE.folded [FILE.folded ...]

Frames are matched by substring, inclusive (a sample counts under every matching frame on its
stack); the table lists what this project's notes quote.
"""
import os
import sys
from collections import Counter

# (label, substrings: a sample counts if any frame on its stack contains any of them). Kernel
# frames (`_[k]`) count only for the syscall rows, so `kmalloc` is not the allocator.
FRAMES = [
    ("worker loop (Worker::run)", ["Worker::run"]),
    ("epoll_wait (Poll::poll)", ["epoll_wait"]),
    ("a connection's turn (Worker::turn)", ["Worker::turn"]),
    ("read: recv()", ["__libc_recv", "__x64_sys_recvfrom"]),
    ("write: send()", ["__libc_send", "__x64_sys_sendto"]),
    ("handler (Handler::process)", ["Handler>::process", "Handler::process"]),
    ("http::parse (httparse)", ["nines_server::http::parse"]),
    ("http::respond", ["nines_server::http::respond"]),
    ("clock reads (clock_gettime)", ["clock_gettime"]),
    ("glibc cancellation (pthread_*_asynccancel)", ["asynccancel"]),
    ("allocator (malloc/free/realloc)", ["malloc", "cfree", "__libc_free", "realloc", "_int_free"]),
    ("memcpy/memmove (user)", ["__memmove", "__memcpy", "memcpy@"]),
    ("stats publish", ["PhaseTimes::publish"]),
    ("sweep", ["Worker::sweep"]),
]
# Samples whose leaf (self time) is glibc's socket-call wrapper or its cancellation bracket.
WRAPPERS = ("__libc_recv", "__libc_send", "__send", "__recv", "asynccancel")
KERNEL_TOO = {"epoll_wait (Poll::poll)", "read: recv()", "write: send()"}
ROOTS = {"clone3", "__clone3", "_start", "__clone", "start_thread"}


def shares(path):
    total = kernel = whole = wrappers = ours = 0
    inc = Counter()
    for line in open(path):
        stack, n = line.rstrip("\n").rsplit(" ", 1)
        n = int(n)
        frames = stack.split(";")[1:]  # the first is the thread's name
        total += n
        kernel += n if frames and frames[-1].endswith("_[k]") else 0
        whole += n if frames and frames[0] in ROOTS else 0
        ours += n if any(f.startswith("nines_server::") for f in frames) else 0
        wrappers += n if frames and any(w in frames[-1] for w in WRAPPERS) else 0
        user = [f for f in frames if not f.endswith("_[k]")]
        for label, subs in FRAMES:
            if any(s in f for f in (frames if label in KERNEL_TOO else user) for s in subs):
                inc[label] += n
    return total, kernel, whole, inc, wrappers, ours


def main(paths):
    cols = [shares(p) for p in paths]
    pct = lambda v, t: f"{100 * v / t:.1f}%" if t else "-"
    names = [os.path.basename(p).removesuffix(".folded") for p in paths]
    print("| frame | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(paths))
    print("| samples | " + " | ".join(str(c[0] // max(1, _period(p))) for c, p in zip(cols, paths)) + " |")
    print("| stacks unwound to the thread's start | " + " | ".join(pct(c[2], c[0]) for c in cols) + " |")
    print("| stacks naming nines-server code | " + " | ".join(pct(c[5], c[0]) for c in cols) + " |")
    print("| leaf in the kernel (the vDSO's clock reads included) | " + " | ".join(pct(c[1], c[0]) for c in cols) + " |")
    print("| self: glibc's recv/send wrappers and their cancellation bracket | "
          + " | ".join(pct(c[4], c[0]) for c in cols) + " |")
    for label, _ in FRAMES:
        print(f"| {label} | " + " | ".join(pct(c[3][label], c[0]) for c in cols) + " |")


def _period(path):
    """Folded counts are samples (scripts/flame.sh) or perf's periods (cpu-clock: ns, 1e9 / FREQ
    a sample); either way the smallest line is one sample."""
    return min(int(l.rsplit(" ", 1)[1]) for l in open(path) if l.strip())


if __name__ == "__main__":
    main(sys.argv[1:])
