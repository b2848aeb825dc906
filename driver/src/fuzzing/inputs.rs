//! Fuzzing what the driver reads from people and harnesses: `nines node` lines, result files,
//! and the values of size, duration, rate and start-time flags.

use std::io::BufRead;

use clap::ValueEnum;
use nines_protocol::Op;

use crate::node::{Message, Node};
use crate::report::{self, Format, Loaded};

/// One `nines node` line: parsed without running anything; lines that need no load (init,
/// errors, lines without a sender) are answered in full and rendered as the node writes them.
pub fn node_line(data: &[u8]) {
    let runs_load =
        matches!(Message::parse(data), Ok(Message { request: Ok(ref r), .. }) if r.runs_load());
    if !runs_load {
        let mut log = Vec::new();
        if let Some(reply) = Node::new().handle(data, &mut log) {
            let text = crate::node::python_json(&reply);
            assert!(!text.contains('\n'), "a reply is one line");
        }
        assert!(
            !log.iter().any(|&b| b < b' ' && b != b'\n'),
            "the log holds no control characters"
        );
    }
}

/// The node's line reader over any input with a small cap: every byte is accounted for as part
/// of a kept line, a skipped long line, or a newline.
pub fn node_lines(data: &[u8]) {
    let cap = 16;
    let mut input = std::io::Cursor::new(data);
    let mut buf = Vec::new();
    let mut seen = 0;
    loop {
        match crate::node::read_line(&mut input, &mut buf, cap).expect("reading memory") {
            crate::node::Line::Eof => break,
            crate::node::Line::Complete => {
                assert!(buf.len() <= cap && !buf.contains(&b'\n'));
                seen += buf.len();
            }
            crate::node::Line::TooLong(n) => {
                assert!(n > cap);
                seen += n;
            }
        }
        if data.get(seen) == Some(&b'\n') {
            seen += 1;
        }
    }
    assert_eq!(seen, data.len(), "every byte is part of a line");
    assert!(input.fill_buf().expect("memory").is_empty());
}

/// A result file (`nines report`, `nines merge`): JSON report or interval log. What loads
/// renders in every format, merges (or is refused as one run twice), and survives a JSON
/// round trip.
pub fn result_file(data: &[u8]) {
    match report::parse(data, "fuzz") {
        Ok(Loaded::Report(r)) => {
            for &f in Format::value_variants() {
                let _ = report::render(&r, f);
            }
            let json = report::render(&r, Format::Json);
            let again = report::parse(json.as_bytes(), "again").expect("its own JSON loads");
            let Loaded::Report(again) = again else {
                panic!("a report reads back as a report");
            };
            assert_eq!(again.requests, r.requests);
            // With itself it is one run twice (refused); the same a second later is another.
            let _ = report::merge(vec![("a".into(), (*r).clone()), ("b".into(), (*r).clone())]);
            let mut later = *r;
            later.measure_start_unix_s += 1.0;
            if let report::Origin::Merged { parts } = &mut later.origin {
                for p in parts {
                    p.measure_start_unix_s += 1.0;
                }
            }
            let _ = report::merge(vec![("a".into(), (*again).clone()), ("b".into(), later)]);
        }
        Ok(Loaded::Sweep(s)) => {
            for &f in Format::value_variants() {
                let _ = report::render::sweep::render(&s, f);
            }
            let json = report::render::sweep::render(&s, Format::Json).expect("json renders");
            let again = report::parse(json.as_bytes(), "again").expect("its own JSON loads");
            assert!(matches!(again, Loaded::Sweep(a) if a.steps.len() == s.steps.len()));
        }
        Err(_) => {}
    }
}

/// The flag parsers for sizes, durations, rates and start times.
pub fn units(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = nines_common::units::parse_bytes(s);
    let _ = nines_common::units::parse_duration(s);
    if let Ok(r) = nines_common::units::parse_rate(s) {
        assert!(r.is_finite() && r >= 0.0, "{s} -> {r}");
    }
    let _ = crate::config::parse_start_at(s);
    let _ = Op::from_name(s);
}
