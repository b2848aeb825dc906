//! Where a result goes: the summary on stdout (or stderr when the JSON or the stats stream takes
//! stdout), each requested file written atomically, and the report directory the library lays
//! out. Every command that makes a result ends here, so output handling exists once.

use std::path::Path;

use nines_driver::report::dir::{self, Written};
use nines_driver::report::sweep::Sweep;
use nines_driver::report::{render, write_atomic, Format, Report};

use crate::flags::output::{is_stdout, OutputFlags};

/// Prints and writes `report` as `out` asks; false if a file could not be written. With
/// `stdout_taken` (the stats stream writes there) the summary goes to stderr.
pub fn emit(report: &Report, out: &OutputFlags, stdout_taken: bool) -> bool {
    let summary = render(report, Format::Text);
    if out.json_to_stdout() {
        eprint!("{summary}");
        print!("{}", render(report, Format::Json));
    } else if stdout_taken {
        eprint!("{summary}");
    } else {
        print!("{summary}");
    }
    let files = [
        (out.json.as_deref().filter(|p| !is_stdout(p)), Format::Json),
        (out.hdr_out.as_deref(), Format::Hgrm),
        (out.hlog.as_deref(), Format::Hlog),
    ];
    let mut ok = out
        .report
        .as_deref()
        .is_none_or(|d| said(&dir::write(report, d)));
    for (path, format) in files {
        if let Some(path) = path {
            ok &= write_file(path, &render(report, format));
        }
    }
    ok
}

/// Writes a sweep's JSON file and report directory, as asked; false if one was not written.
pub fn emit_sweep(sweep: &Sweep, out: &OutputFlags) -> bool {
    let json = || nines_driver::report::render::sweep::render(sweep, Format::Json);
    let mut ok = true;
    match out.json.as_deref() {
        Some(p) if is_stdout(p) => print!("{}", json().expect("json renders")),
        Some(p) => ok &= write_file(p, &json().expect("json renders")),
        None => {}
    }
    if let Some(d) = out.report.as_deref() {
        ok &= said(&dir::write_sweep(sweep, d));
    }
    ok
}

/// Writes `text` to `path` atomically, saying so when it cannot.
pub fn write_file(path: &Path, text: &str) -> bool {
    match write_atomic(path, text.as_bytes()) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("nines: error: cannot write {}: {e}", path.display());
            false
        }
    }
}

/// Says what a report directory could not hold; true when every file was written.
pub fn said(w: &Written) -> bool {
    for (path, e) in &w.failed {
        eprintln!("nines: error: cannot write {}: {e}", path.display());
    }
    for (path, why) in &w.not_drawn {
        eprintln!("nines: {} not drawn: {why}", path.display());
    }
    w.ok()
}
