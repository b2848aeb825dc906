//! Where a result goes: the summary on stdout (or stderr when the JSON takes stdout), and each
//! requested file written atomically. Every command that makes a result ends here, so output
//! handling exists once.

use std::path::Path;

use nines_driver::report::{render, write_atomic, Format, Report};

use crate::args::OutputArgs;

/// Prints and writes `report` as `out` asks; false if a file could not be written. With
/// `stdout_taken` (the stats stream writes there) the summary goes to stderr.
pub fn emit(report: &Report, out: &OutputArgs, stdout_taken: bool) -> bool {
    let json_to_stdout = out.json.as_deref().is_some_and(is_stdout);
    let summary = render(report, Format::Text);
    if json_to_stdout {
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
        .is_none_or(|dir| report_dir(report, dir));
    for (path, format) in files {
        let Some(path) = path else { continue };
        if let Err(e) = write_atomic(path, render(report, format).as_bytes()) {
            eprintln!("nines: error: cannot write {}: {e}", path.display());
            ok = false;
        }
    }
    ok
}

fn is_stdout(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Writes the report directory for `report` into `dir` (created if missing): summary.md,
/// results.csv, latency.hgrm, result.json and the SVG plots (latency spectrum, timeline, and a
/// storm's connections), each atomically; false if one could not be written.
pub fn report_dir(report: &Report, dir: &Path) -> bool {
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("nines: error: cannot create {}: {e}", dir.display());
        return false;
    }
    let files = [
        ("summary.md", Format::Markdown),
        ("results.csv", Format::Csv),
        ("latency.hgrm", Format::Hgrm),
        ("result.json", Format::Json),
    ];
    let mut ok = true;
    for (name, format) in files {
        let path = dir.join(name);
        if let Err(e) = write_atomic(&path, render(report, format).as_bytes()) {
            eprintln!("nines: error: cannot write {}: {e}", path.display());
            ok = false;
        }
    }
    use nines_driver::report::plot;
    let mut plots = vec![
        ("latency-spectrum.svg", plot::spectrum(report)),
        ("timeline.svg", plot::timeline(report)),
    ];
    if report.storm.is_some() {
        plots.push(("storm.svg", plot::storm(report)));
    }
    ok & write_plots(dir, plots)
}

/// Writes each plot that could be drawn; one that could not is said and skipped.
pub fn write_plots(dir: &Path, plots: Vec<(&str, Result<String, String>)>) -> bool {
    let mut ok = true;
    for (name, svg) in plots {
        match svg {
            Ok(svg) => {
                if let Err(e) = write_atomic(&dir.join(name), svg.as_bytes()) {
                    eprintln!(
                        "nines: error: cannot write {}: {e}",
                        dir.join(name).display()
                    );
                    ok = false;
                }
            }
            Err(why) => eprintln!("nines: {name} not drawn: {why}"),
        }
    }
    ok
}
