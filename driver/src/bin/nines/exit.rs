//! How the binary ends and what it sets up first: exit statuses (0 completed, 1 cut short or a
//! file not written, 2 bad usage, 3 an SLO clause failed or stopped the run), one-line errors,
//! the descriptor limit, and the signals (Ctrl-C, SIGTERM, a hang-up) that stop a run and keep
//! what it measured.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use nines_driver::report::{CutShort, Outcome, Report};

/// Exit status for a result: 0 only when it completed and every file was written. A run that a
/// clause of its SLO stopped early (the target's growth) ends as that SLO failing: 3.
pub fn finish(report: &Report, written: bool) -> ExitCode {
    let stopped_by_slo = matches!(
        report.outcome,
        Outcome::CutShort(CutShort::GrowthSlo { .. })
    );
    if !((report.completed() || stopped_by_slo) && written) {
        ExitCode::from(1)
    } else if report.slo.as_ref().is_some_and(|g| !g.pass) {
        ExitCode::from(nines_driver::report::slo::EXIT_SLO_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// One line on stderr and exit status 1.
pub fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    crate::console::error(e);
    ExitCode::from(1)
}

/// Every connection is a descriptor (twice over when the server is embedded): use them all.
pub fn raise_nofile() {
    if let Err(e) = nines_common::sys::raise_nofile() {
        crate::console::line(format_args!(
            "nines: warning: could not raise RLIMIT_NOFILE: {e}"
        ));
    }
}

/// The signals that stop a run and keep what it measured: Ctrl-C, `kill` or `timeout`, and a
/// hang-up (the terminal or ssh session went away).
const STOPPING: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// A second stopping signal this long after the first exits at once (status 130). One sooner
/// is the same stop delivered twice: `timeout` and a closing terminal signal the process and
/// then its whole group, and a storm's parent and children share one.
const FORCE_AFTER: Duration = Duration::from_secs(1);

/// The run's interrupt flag, set by the first stopping signal; a second one at least
/// [`FORCE_AFTER`] later exits at once. The same flag for every caller in the process.
pub fn interrupt_on_signals() -> Arc<AtomicBool> {
    static INTERRUPT: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    INTERRUPT
        .get_or_init(|| {
            let interrupt = Arc::new(AtomicBool::new(false));
            if let Err(e) = watch_signals(interrupt.clone(), Second::ForcesExit) {
                crate::console::line(format_args!(
                    "nines: warning: Ctrl-C will not keep the results: {e}"
                ));
            }
            interrupt
        })
        .clone()
}

/// What a stopping signal after the first does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Second {
    /// Exits at once, if it comes [`FORCE_AFTER`] or more after the first: a user insisting.
    ForcesExit,
    /// Nothing: a storm's child stops when its parent says so, however many times it hears it
    /// (from the terminal, its group and its parent), and writes what it measured.
    Ignored,
}

/// Sets `interrupt` on the first stopping signal, in a thread of its own, and does `second`
/// with the ones after.
pub fn watch_signals(interrupt: Arc<AtomicBool>, second: Second) -> std::io::Result<()> {
    // A hang-up ignored when nines started stays ignored: `nohup nines bench ...` must outlive
    // the session as nohup promises, not stop at its hang-up. (SIGINT is heeded even when
    // ignored: a shell starts background jobs so, and `kill -INT` must still stop them.)
    let heeded: Vec<i32> = STOPPING
        .into_iter()
        .filter(|s| !(*s == SIGHUP && ignored(*s)))
        .collect();
    let mut signals = Signals::new(heeded)?;
    // Whether each of stdout and stderr is a terminal, asked now: after a hang-up it answers
    // EIO to every question, isatty included.
    let terminals = [
        std::io::stdout().is_terminal(),
        std::io::stderr().is_terminal(),
    ];
    std::thread::Builder::new()
        .name("nines-signals".into())
        .spawn(move || {
            let mut first: Option<Instant> = None;
            for sig in signals.forever() {
                if sig == SIGHUP {
                    away_from_hung_up_terminal(terminals);
                }
                match first {
                    None => {
                        first = Some(Instant::now());
                        interrupt.store(true, Ordering::SeqCst);
                    }
                    Some(t) if second == Second::ForcesExit && t.elapsed() >= FORCE_AFTER => {
                        std::process::exit(130)
                    }
                    Some(_) => {}
                }
            }
        })?;
    Ok(())
}

/// Blocking or unblocking the stopping signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// Held pending: sent, but not taken until unblocked.
    Block,
    /// Taken again (any pending one now).
    Unblock,
}

/// Blocks or unblocks the stopping signals for the calling thread (and what it starts later,
/// across exec too). Only sigprocmask(2): safe between fork and exec.
pub fn stopping_signals(mask: Mask) {
    // SAFETY: sigemptyset and sigaddset fill a sigset_t this function owns; sigprocmask
    // changes only this thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in STOPPING {
            libc::sigaddset(&mut set, sig);
        }
        let how = match mask {
            Mask::Block => libc::SIG_BLOCK,
            Mask::Unblock => libc::SIG_UNBLOCK,
        };
        libc::sigprocmask(how, &set, std::ptr::null_mut());
    }
}

/// Whether `sig` is ignored (SIG_IGN) in this process: set so by whoever started it.
fn ignored(sig: i32) -> bool {
    // SAFETY: sigaction with a null new action only reads the current one into `old`, a
    // zeroed sigaction this function owns.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// After a hang-up, writes to the terminal fail (EIO): point stdout and stderr at /dev/null
/// where they were the terminal, so the run still ends normally and writes its files.
fn away_from_hung_up_terminal([stdout, stderr]: [bool; 2]) {
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return;
    };
    if stdout {
        let _ = nix::unistd::dup2_stdout(&null);
    }
    if stderr {
        let _ = nix::unistd::dup2_stderr(&null);
    }
}
