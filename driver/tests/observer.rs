//! The run library prints nothing: a caller sees a run through one observer, and the seconds it
//! is shown are the seconds the report keeps.

use std::time::Duration;

use nines_driver::config::{Bench, BenchConfig, Load, StopAt, Target};
use nines_driver::observer::Event;
use nines_driver::run::{run, Hooks};

#[test]
fn every_second_reaches_the_observer_and_the_report_alike() {
    let cfg = BenchConfig {
        threads: 1,
        connections: 4,
        load: Load::ClosedLoop(Bench {
            stop: StopAt::Duration(Duration::from_millis(2_500)),
            warmup: Duration::from_millis(200),
            ..Bench::default()
        }),
        target: Target::Embedded { server_workers: 1 },
        ..BenchConfig::default()
    };
    let mut seen = Vec::new();
    let mut observer = |e: &Event<'_>| {
        if let Event::Interval { interval, .. } = e {
            seen.push((interval.index, interval.hist.len()));
        }
    };
    let r = run(
        &cfg,
        &mut Hooks {
            observer: Some(&mut observer),
            ..Hooks::default()
        },
    )
    .unwrap();
    assert!(r.completed(), "{:?}", r.outcome);
    let indices: Vec<u64> = seen.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        indices,
        (0..seen.len() as u64).collect::<Vec<_>>(),
        "in order, none skipped"
    );
    assert!(
        seen.len() >= 3,
        "2.5 s of measurement is at least three seconds: {seen:?}"
    );
    assert_eq!(seen.len(), r.intervals.len());
    for ((_, n), kept) in seen.iter().zip(&r.intervals) {
        assert_eq!(*n, kept.requests);
    }
    let total: u64 = seen.iter().map(|(_, n)| n).sum();
    assert_eq!(
        total, r.requests,
        "every measured reply falls in exactly one second"
    );
}
