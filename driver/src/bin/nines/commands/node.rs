//! `nines node`: the benchmark-node interface on stdin/stdout (the library's `node` module).
//! Here only what belongs to the process: its descriptors, and what happens when the harness
//! stops reading. A reader that closes stdout can be told nothing more, so the node says so on
//! stderr and exits 1 — at once, even while it waits for a line or runs a benchmark, rather
//! than when it next has a reply to lose.

use std::io::Write;
use std::os::fd::AsFd;
use std::process::ExitCode;

use clap::Args;
use nines_common::units::HumanDuration;
use nines_common::usage::{exit_with, UsageError};
use nines_driver::config::defaults;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// `nines node`.
#[derive(Args, Debug)]
pub struct NodeArgs {
    /// Longest one request's load may run; a run still going then stops, and its reply (an
    /// error, code 0) says how far it got. The default keeps every reply inside the seed
    /// harness's 5 s.
    #[arg(long, value_name = "DURATION", default_value_t = HumanDuration(defaults::NODE_RUN_BOUND))]
    pub run_bound: HumanDuration,
}

/// Serves lines until EOF on stdin (exit 0) or until stdout's reader goes away (exit 1).
pub fn node(a: &NodeArgs) -> ExitCode {
    if a.run_bound.0.is_zero() {
        let why = format!(
            "{}: a run needs some time (the default is {})",
            a.run_bound,
            HumanDuration(defaults::NODE_RUN_BOUND)
        );
        exit_with(&[UsageError::new("--run-bound", why)]);
    }
    crate::exit::raise_nofile();
    watch_stdout();
    let mut node = nines_driver::node::Node::new().with_run_bound(a.run_bound.0);
    match node.serve(
        std::io::stdin().lock(),
        std::io::stdout().lock(),
        std::io::stderr(),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(reader_gone()),
        Err(e) => crate::exit::fail(&e),
    }
}

/// Watches stdout from a thread of its own: poll(2) reports POLLERR on a pipe whose reader has
/// closed it (POLLHUP on a socket or terminal that hung up) even when nothing is being written,
/// and never wakes for a file or /dev/null.
fn watch_stdout() {
    let spawned = std::thread::Builder::new()
        .name("nines-node-stdout".into())
        .spawn(|| {
            let out = std::io::stdout();
            let mut fds = [PollFd::new(out.as_fd(), PollFlags::empty())];
            let gone = PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL;
            loop {
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) if fds[0].revents().is_some_and(|r| r.intersects(gone)) => {
                        std::process::exit(i32::from(reader_gone()));
                    }
                    Ok(_) | Err(Errno::EINTR) => {}
                    // Unwatchable: a failed write still finds out.
                    Err(_) => return,
                }
            }
        });
    if let Err(e) = spawned {
        let _ = writeln!(std::io::stderr(), "nines node: cannot watch stdout: {e}");
    }
}

/// Says that stdout's reader is gone; the exit status that follows.
fn reader_gone() -> u8 {
    // stderr may be gone too: nothing to do about that but not panic.
    let _ = writeln!(
        std::io::stderr(),
        "nines node: stdout was closed by its reader: no reply can be delivered, stopping"
    );
    1
}
