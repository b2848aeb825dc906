//! How the binary ends and what it sets up first: exit statuses (0 completed, 1 cut short or a
//! file not written, 2 bad usage, 3 an SLO clause failed), one-line errors, the descriptor
//! limit, and Ctrl-C that keeps what was measured.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use nines_driver::report::Report;

/// Exit status for a result: 0 only when it completed and every file was written.
pub fn finish(report: &Report, written: bool) -> ExitCode {
    if !(report.completed() && written) {
        ExitCode::from(1)
    } else if report.slo.as_ref().is_some_and(|g| !g.pass) {
        ExitCode::from(nines_driver::report::slo::EXIT_SLO_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// One line on stderr and exit status 1.
pub fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("nines: error: {e}");
    ExitCode::from(1)
}

/// Every connection is a descriptor (twice over when the server is embedded): use them all.
pub fn raise_nofile() {
    if let Err(e) = nines_common::sys::raise_nofile() {
        eprintln!("nines: warning: could not raise RLIMIT_NOFILE: {e}");
    }
}

/// Ctrl-C/SIGTERM stop the run and keep its results; a second one exits at once.
pub fn interrupt_on_signals() -> Arc<AtomicBool> {
    let interrupt = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, interrupt.clone());
        let _ = signal_hook::flag::register(sig, interrupt.clone());
    }
    interrupt
}
