//! One module per command (or family of commands): each takes its flag groups, builds the
//! library's configuration, runs it and hands the result to the output.

pub mod bench;
pub mod hostile;
pub mod results;
pub mod storm;
pub mod sweep;

use nines_driver::observer::Observer;

use crate::flags::output::WatchFlags;
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

/// Progress for one run of `cfg`.
pub fn progress_for(cfg: &nines_driver::BenchConfig, watch: &WatchFlags) -> Progress {
    let length = match cfg.stop() {
        nines_driver::StopAt::Duration(d) => Some(cfg.load.warmup() + d),
        nines_driver::StopAt::Requests(_) => None,
    };
    Progress::new(length, cfg.stop(), watch.live())
}
