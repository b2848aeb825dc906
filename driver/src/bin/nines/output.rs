//! Where a result goes: the summary on stdout (or stderr when the JSON or the stats stream takes
//! stdout), each requested file written atomically, and the report directory the library lays
//! out. Every command that makes a result ends here, so output handling exists once. Nothing
//! here gives up on the rest: a closed stdout or a file that cannot be written is said, kept
//! elsewhere when it can be ([`crate::fallback`]), and the other outputs are still written.

use std::path::Path;

use nines_driver::report::dir;
use nines_driver::report::flame::Flame;
use nines_driver::report::sweep::Sweep;
use nines_driver::report::{render, Format, Report};

use crate::console;
use crate::fallback;
use crate::flags::output::{is_stdout, OutputFlags};

/// Prints and writes `report` as `out` asks, its flame graph to `flame`; false if an output
/// (stdout included) did not get it. With `stdout_taken` (the stats stream writes there) the
/// summary goes to stderr.
pub fn emit(report: &Report, out: &OutputFlags, flame: Option<&Path>, stdout_taken: bool) -> bool {
    let summary = render(report, Format::Text);
    let mut ok = true;
    if out.json_to_stdout() || stdout_taken {
        console::err(&summary);
    } else {
        ok &= console::print(&summary, "the summary");
    }
    if out.json_to_stdout() {
        ok &= json_to_stdout(&render(report, Format::Json));
    }
    let files = [
        (out.json.as_deref().filter(|p| !is_stdout(p)), Format::Json),
        (out.hdr_out.as_deref(), Format::Hgrm),
        (out.hlog.as_deref(), Format::Hlog),
    ];
    if let Some(d) = out.report.as_deref() {
        ok &= fallback::write_dir(d, |d| dir::write(report, d));
    }
    if let Some(path) = flame {
        ok &= flame_file(report, path);
    }
    for (path, format) in files {
        if let Some(path) = path {
            let what = format.to_string();
            ok &= fallback::write_file(path, &render(report, format), &what);
        }
    }
    ok
}

/// Writes a sweep's JSON file, report directory and flame graphs, as asked; false if one was
/// not written.
pub fn emit_sweep(sweep: &Sweep, out: &OutputFlags, flame: Option<&Path>) -> bool {
    let json = || nines_driver::report::render::sweep::render(sweep, Format::Json);
    let mut ok = true;
    match out.json.as_deref() {
        Some(p) if is_stdout(p) => ok &= json_to_stdout(&json().expect("json renders")),
        Some(p) => ok &= fallback::write_file(p, &json().expect("json renders"), "json"),
        None => {}
    }
    if let Some(d) = out.report.as_deref() {
        ok &= fallback::write_dir(d, |d| dir::write_sweep(sweep, d));
    }
    if let Some(path) = flame {
        // One graph per step, beside the name given: flame.svg -> flame-step-01.svg, ...
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let ext = path
            .extension()
            .map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
        for (i, step) in sweep.steps.iter().enumerate() {
            let name = format!("{stem}-{}{ext}", dir::step_dir_name(i));
            ok &= flame_file(&step.report, &path.with_file_name(name));
        }
    }
    ok
}

/// Writes `report`'s flame graph to `path`; false when it has none to write. A graph perf
/// could not take is not a failure of the run: the summary said why in one line.
fn flame_file(report: &Report, path: &Path) -> bool {
    match &report.flame {
        Some(Flame::Sampled(g)) => match dir::flame_svg(report, g) {
            Ok(svg) => fallback::write_file(path, &svg, "svg"),
            Err(why) => {
                console::err(&format!("{}: {why}", path.display()));
                false
            }
        },
        Some(Flame::Unavailable { .. }) => true,
        None => {
            console::err(&format!(
                "{}: this result has no flame graph (a merged result keeps none)",
                path.display()
            ));
            false
        }
    }
}

/// Prints the JSON result (`--json -`); when stdout does not take it, keeps it in a file and
/// says where. False when stdout did not take it.
pub fn json_to_stdout(json: &str) -> bool {
    if console::out(json) {
        return true;
    }
    let why = console::stdout_failed().unwrap_or("cannot write to stdout");
    fallback::keep(
        &format!("{why}: the JSON result was not printed"),
        json,
        "json",
    );
    false
}
