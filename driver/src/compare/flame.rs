//! Where the target's CPU moved between configurations, from their flame graphs: the frames
//! whose share of the samples changed most, baseline against each other group, and the
//! differential flame graph of the first against the last (`--flame-diff`).

use std::fmt::Write;

use super::{table, Group};
use crate::report::flame::{combined, shifts, Flame, FlameGraph};
use crate::report::Report;

/// Frames listed per comparison.
const MOVED: usize = 8;

/// The runs' flame graphs as one, when every run has one.
pub fn group_flame(runs: &[&Report]) -> Option<FlameGraph> {
    let graphs: Option<Vec<&FlameGraph>> = runs
        .iter()
        .map(|r| match &r.flame {
            Some(Flame::Sampled(g)) => Some(&**g),
            _ => None,
        })
        .collect();
    combined(&graphs?)
}

/// The frames that moved most, baseline against each group with a graph (nothing when the
/// baseline has none).
pub fn section(s: &mut String, groups: &[Group], markdown: bool) {
    let Some(base_graph) = groups[0].flame.as_ref() else {
        return;
    };
    for g in &groups[1..] {
        let Some(graph) = g.flame.as_ref() else {
            continue;
        };
        let _ = writeln!(
            s,
            "\nWhere the target's CPU moved, {} vs {} (share of each run's samples, frame and its callees):",
            g.name, groups[0].name
        );
        let mut rows = vec![vec![
            "frame".to_string(),
            groups[0].name.clone(),
            g.name.clone(),
            "change".to_string(),
        ]];
        for (frame, before, after) in shifts(base_graph, graph, MOVED) {
            rows.push(vec![
                frame,
                format!("{before:.1}%"),
                format!("{after:.1}%"),
                format!("{:+.1} pts", after - before),
            ]);
        }
        table(s, &rows, markdown);
    }
}

/// The differential flame graph of the first group against the last, or why there is none.
pub fn diff_svg(groups: &[Group]) -> Result<String, String> {
    let (first, last) = (&groups[0], &groups[groups.len() - 1]);
    let missing: Vec<&str> = [first, last]
        .iter()
        .filter(|g| g.flame.is_none())
        .map(|g| g.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} has no flame graph in every run: run it with --flame FILE.svg",
            missing.join(" and ")
        ));
    }
    let (before, after) = (first.flame.as_ref().unwrap(), last.flame.as_ref().unwrap());
    crate::report::render::flame::diff_svg(
        before,
        after,
        &format!("{} against {}: where the CPU moved", last.name, first.name),
    )
}
