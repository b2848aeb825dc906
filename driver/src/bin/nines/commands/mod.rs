//! One module per command (or family of commands): each takes its flag groups, builds the
//! library's configuration, runs it and hands the result to the output.

pub mod bench;
pub mod hostile;
pub mod node;
pub mod results;
pub mod storm;
pub mod sweep;

use nines_driver::observer::Observer;
use nines_driver::report::{slo, Origin, Report};

use crate::flags::output::{GateFlags, WatchFlags};
use crate::progress::Progress;
use crate::stream::Stream;

/// The observer a run reports to: the per-second stats stream (when asked for) in front of the
/// progress display. Err is one line saying why the stream cannot be opened.
pub fn observer<'a>(
    watch: &WatchFlags,
    progress: &'a mut dyn Observer,
    stream: &'a mut Option<Stream<'a>>,
) -> Result<&'a mut dyn Observer, String> {
    match watch.stats_stream.as_deref() {
        Some(p) => {
            *stream = Some(
                Stream::open(p, progress)
                    .map_err(|e| format!("cannot open the stats stream: {e}"))?,
            );
            Ok(stream.as_mut().expect("just set"))
        }
        None => Ok(progress),
    }
}

/// Runs `f` with hooks that report to `progress` (behind the stats stream, when one was asked
/// for) and stop the run on Ctrl-C, or once one of the `stop_on` clauses is passed for certain
/// (those on the target's growth). Err: the stream could not be opened.
pub fn watched<T>(
    watch: &WatchFlags,
    stop_on: Vec<slo::Clause>,
    progress: &mut dyn Observer,
    f: impl FnOnce(&mut nines_driver::run::Hooks<'_>) -> T,
) -> Result<T, String> {
    let mut stream = None;
    let observer = observer(watch, progress, &mut stream)?;
    let mut hooks = nines_driver::run::Hooks {
        interrupt: Some(crate::exit::interrupt_on_signals()),
        observer: Some(observer),
        stop_on,
    };
    Ok(f(&mut hooks))
}

/// Progress for one run of `cfg`.
pub fn progress_for(cfg: &nines_driver::BenchConfig, watch: &WatchFlags) -> Progress {
    let length = match cfg.stop() {
        nines_driver::StopAt::Duration(d) => Some(cfg.load.warmup() + d),
        nines_driver::StopAt::Requests(_) => None,
    };
    let progress = Progress::new(length, cfg.stop(), watch.live());
    match &cfg.load {
        nines_driver::config::Load::OpenLoop { rate, .. } => progress.with_target(rate.clone()),
        _ => progress,
    }
}

/// Refuses two outputs on stdout at once (the JSON and the stats stream), which nothing could
/// read apart.
pub fn one_stdout(
    out: &crate::flags::output::OutputFlags,
    watch: &WatchFlags,
) -> Result<(), nines_common::usage::UsageError> {
    if out.json_to_stdout() && watch.stream_to_stdout() {
        return Err(nines_common::usage::UsageError::new(
            "--stats-stream",
            "-: the JSON result (--json -) takes stdout already; write one of them to a file",
        ));
    }
    Ok(())
}

/// Records this command line in a run's manifest (a merged result's parts keep their own).
pub fn record_command(report: &mut Report) {
    if let Origin::Run { manifest } = &mut report.origin {
        manifest.command = std::env::args().collect();
    }
}

/// Checks the `--slo` gate against `report`, if one was given.
pub fn judge(report: &mut Report, gate: &GateFlags) {
    if let Some(expr) = &gate.slo {
        report.slo = Some(slo::check(&expr.0, report, gate.allow_invalid));
    }
}
