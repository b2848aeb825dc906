//! What the target and the driver held second by second: resident memory and open
//! descriptors in two stacked panels, the target's line beside the driver's, so a leak shows as
//! a line that keeps rising while the load is flat.

use plotters::prelude::*;

use super::chart::{stacked, Panel, Res, Series};
use crate::host::Usage;
use crate::report::Report;

/// Bytes in a MiB.
const MIB: f64 = 1_048_576.0;

/// The target's (when it was read) and the driver's RSS in MiB and open descriptors, at the
/// end of each second that read them.
pub fn resources(r: &Report) -> Res {
    let held: Vec<_> = r.intervals.iter().filter_map(|iv| iv.held_at()).collect();
    if held.is_empty() {
        return Err("plot: no second read what the target and the driver held".into());
    }
    let line = |usage: fn(&crate::report::resources::Held) -> Option<Usage>,
                value: fn(&Usage) -> f64| {
        held.iter()
            .filter_map(|(t, h)| Some((*t, value(&usage(h)?))))
            .collect::<Vec<_>>()
    };
    let driver = if r.embedded_server {
        "driver (the embedded server inside it)"
    } else {
        "driver"
    };
    let panel = |caption, y_desc, value: fn(&Usage) -> f64| {
        let mut series = Vec::new();
        let server = line(|h| h.server, value);
        if !server.is_empty() {
            series.push(Series {
                name: Some("server"),
                color: RED,
                points: server,
            });
        }
        series.push(Series {
            name: Some(driver),
            color: BLUE,
            points: line(|h| Some(h.driver), value),
        });
        Panel {
            caption,
            y_desc,
            series,
        }
    };
    stacked(
        &format!("Memory and descriptors per second — {}", r.target),
        "seconds into the measurement",
        [
            panel("resident memory (RSS)", "RSS (MiB)", |u| {
                u.rss_bytes as f64 / MIB
            }),
            panel("open descriptors", "open descriptors", |u| u.fds as f64),
        ],
    )
}
