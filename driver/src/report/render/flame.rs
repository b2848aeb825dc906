//! A flame graph in words and in pictures: the summary's lines (what was sampled, each
//! thread's share, the hottest and widest frames, or why there is no graph) and the SVGs drawn
//! by inferno — one run's graph, and the differential graph of two runs (what got hotter, red;
//! what got cooler, blue).

use std::fmt::Write;

use crate::report::flame::{Flame, FlameGraph, HotFrame, MIN_SAMPLES};
use nines_common::units::thousands;

/// Frames named per line of the summary.
const NAMED: usize = 5;
/// Longest frame name printed in the summary (the SVG has them whole).
const NAME_CHARS: usize = 60;

/// A frame's name cut to [`NAME_CHARS`].
fn short(name: &str) -> String {
    if name.chars().count() <= NAME_CHARS {
        return name.to_string();
    }
    let cut: String = name.chars().take(NAME_CHARS - 1).collect();
    format!("{cut}…")
}

/// `12.1% name, 8.0% name, ...` of the first [`NAMED`] frames, by `share`.
fn frames(list: &[HotFrame], share: impl Fn(&HotFrame) -> f64) -> String {
    list.iter()
        .take(NAMED)
        .map(|h| format!("{:.1}% {}", share(h), short(&h.frame)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What was sampled, in one phrase: `4,990 samples at 499 Hz a thread over 10.0 s (DWARF
/// unwinding, kernel and user frames)`.
pub fn sampled(g: &FlameGraph) -> String {
    let frames = if g.kernel_frames {
        "kernel and user frames"
    } else {
        "user frames only: time in the kernel is not in the graph"
    };
    format!(
        "{} samples at {} Hz a thread over {:.1} s ({} unwinding, {frames})",
        thousands(g.samples),
        g.hz,
        g.seconds,
        g.unwinding
    )
}

/// The flame graph's lines of the terminal summary (nothing when none was asked for).
pub fn text(s: &mut String, flame: Option<&Flame>) {
    match flame {
        None => {}
        Some(Flame::Unavailable { reason }) => {
            let _ = writeln!(s, "  flame       not taken: {reason}");
        }
        Some(Flame::Sampled(g)) => {
            let threads = g
                .threads
                .iter()
                .take(NAMED)
                .map(|t| format!("{} {:.0}%", t.name, t.pct))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                s,
                "  flame       {}; samples by thread: {threads}",
                sampled(g)
            );
            if g.samples < MIN_SAMPLES {
                let _ = writeln!(
                    s,
                    "  flame       too few samples to read shares from (the target was mostly idle, or the window short): sample longer or at a higher --flame-hz"
                );
            }
            let _ = writeln!(s, "  hottest     {}", frames(&g.hottest, |h| h.self_pct));
            if !g.widest.is_empty() {
                let _ = writeln!(s, "  widest      {}", frames(&g.widest, |h| h.total_pct));
            }
            let _ = writeln!(
                s,
                "  flame       the figures above were measured while perf sampled the target (it costs the target CPU): compare them with runs without --flame"
            );
        }
    }
}

/// The hottest frames as a Markdown table (nothing without a graph).
pub fn markdown(s: &mut String, flame: Option<&Flame>) {
    let Some(Flame::Sampled(g)) = flame else {
        if let Some(Flame::Unavailable { reason }) = flame {
            let _ = writeln!(s, "\nNo flame graph: {reason}\n");
        }
        return;
    };
    let _ = writeln!(s, "\n### Where the target's CPU went\n\n{}\n", sampled(g));
    let _ = writeln!(s, "| frame | self | total |\n|---|---:|---:|");
    for h in &g.hottest {
        let _ = writeln!(
            s,
            "| `{}` | {:.1}% | {:.1}% |",
            h.frame.replace('|', "\\|"),
            h.self_pct,
            h.total_pct
        );
    }
}

/// One run's flame graph as an SVG.
pub fn svg(g: &FlameGraph, title: &str) -> Result<String, String> {
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = title.to_string();
    opts.subtitle = Some(sampled(g));
    opts.count_name = "samples".into();
    let mut out = Vec::new();
    inferno::flamegraph::from_lines(&mut opts, g.folded.iter().map(String::as_str), &mut out)
        .map_err(|e| format!("cannot draw the flame graph: {e}"))?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// The differential flame graph from `before` to `after`: drawn on `after`'s stacks, each frame
/// coloured by how its share changed (red hotter, blue cooler), shares normalised so runs of
/// different lengths compare.
pub fn diff_svg(before: &FlameGraph, after: &FlameGraph, title: &str) -> Result<String, String> {
    let fail = |e: std::io::Error| format!("cannot draw the differential flame graph: {e}");
    let join = |g: &FlameGraph| g.folded.join("\n").into_bytes();
    let mut diff = Vec::new();
    let opts = inferno::differential::Options {
        normalize: true,
        ..Default::default()
    };
    inferno::differential::from_readers(
        opts,
        join(before).as_slice(),
        join(after).as_slice(),
        &mut diff,
    )
    .map_err(fail)?;
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = title.to_string();
    opts.subtitle = Some("red: a larger share after than before; blue: a smaller one".into());
    opts.count_name = "samples".into();
    let mut out = Vec::new();
    inferno::flamegraph::from_reader(&mut opts, diff.as_slice(), &mut out).map_err(fail)?;
    String::from_utf8(out).map_err(|e| e.to_string())
}
