//! stdout and stderr, written without panicking. `print!` panics when stdout is closed (`nines
//! bench | true`: Rust ignores SIGPIPE, so the write fails with EPIPE), and a panic there lost
//! the files the run had yet to write. Here a failed write is kept instead, so the command goes
//! on, writes its files, and ends saying what stdout's reader did not get (exit status 1).

use std::fmt::Display;
use std::io::{self, Write};
use std::sync::OnceLock;

/// Why stdout first failed, in words, if it has.
static STDOUT_FAILED: OnceLock<String> = OnceLock::new();

/// Writes `text` to stdout; false when stdout did not take it all (the reason is kept for
/// [`stdout_failed`]).
pub fn out(text: &str) -> bool {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => true,
        Err(e) => {
            let why = match e.kind() {
                io::ErrorKind::BrokenPipe => format!("stdout was closed ({e})"),
                _ => format!("cannot write to stdout: {e}"),
            };
            let _ = STDOUT_FAILED.set(why);
            false
        }
    }
}

/// Why stdout did not take something written to it, if it did not: "stdout was closed (Broken
/// pipe (os error 32))".
pub fn stdout_failed() -> Option<&'static str> {
    STDOUT_FAILED.get().map(String::as_str)
}

/// Writes `text` to stderr. A stderr that cannot be written has nobody left to tell, so its
/// failures are dropped; they must not stop a run or the files it writes.
pub fn err(text: &str) {
    let mut stderr = io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

/// A line on stderr.
pub fn line(text: impl Display) {
    err(&format!("{text}\n"));
}

/// `nines: error: MESSAGE` on stderr.
pub fn error(message: impl Display) {
    line(format_args!("nines: error: {message}"));
}

/// Prints `text` (`what` it is: "the summary") on stdout; when stdout does not take it, says so
/// on stderr and returns false.
pub fn print(text: &str, what: &str) -> bool {
    if out(text) {
        return true;
    }
    error(format_args!(
        "{}: {what} was not printed",
        stdout_failed().unwrap_or("cannot write to stdout")
    ));
    false
}
