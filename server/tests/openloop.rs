//! Open-loop load against the real server binary: coordinated-omission correction proven with a
//! real stall (SIGSTOP), and schedules that hit their rate.

mod util;

use std::time::Duration;

use nines_driver::config::{Arrivals, BenchConfig, Load, Rate, StopAt};
use nines_driver::report::{Finding, LoadSummary, Report};
use nines_driver::run::{run, Hooks};
use nines_driver::schedule::Arrival;
use util::{config, get, wait_for_stats, ServerProc};

fn open(
    addr: std::net::SocketAddr,
    rate: f64,
    arrival: Arrival,
    seed: u64,
    secs: u64,
) -> BenchConfig {
    let mut cfg = config(addr, 0);
    cfg.threads = 1;
    cfg.connections = 8;
    let mut bench = *util::bench(&mut cfg);
    bench.stop = StopAt::Duration(Duration::from_secs(secs));
    cfg.load = Load::OpenLoop {
        bench,
        rate: Rate::Steady { rate_per_s: rate },
        arrivals: Arrivals {
            arrival,
            seed,
            ..Arrivals::default()
        },
    };
    cfg
}

fn go(cfg: &BenchConfig) -> Report {
    run(cfg, &mut Hooks::default()).unwrap()
}

#[test]
fn a_server_stall_is_charged_to_every_request_due_during_it() {
    const STALL: Duration = Duration::from_millis(600);
    let server = ServerProc::start(&["--workers", "1"]);
    let pid = server.child.id() as i32;
    let cfg = open(server.addr, 2_000.0, Arrival::Constant, 1, 3);
    let load = std::thread::spawn(move || go(&cfg));
    // Stall it once the load is flowing (about half a second in), well inside the 3 s run.
    wait_for_stats(server.addr, "the load to flow", |s, q| {
        get(s, "requests") >= 1_000 + q
    });
    // SAFETY: kill(2) on the server child we spawned.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    std::thread::sleep(STALL);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let r = load.join().unwrap();
    assert!(r.completed(), "{:?}", r.outcome);
    // Every request due in the 3 s window was sent and answered: none dropped or moved.
    assert_eq!((r.requests, r.errors), (6_000, 0), "{:?}", r.errors_by_kind);
    let stall_us = STALL.as_secs_f64() * 1e6;
    let l = r.latency_us.unwrap();
    // ~1,200 of 6,000 requests fell due during the stall and waited for it: the corrected tail
    // shows the stall...
    assert!(l.p99 > 0.6 * stall_us, "corrected p99 {} µs", l.p99);
    assert!(l.max > 0.9 * stall_us, "corrected max {} µs", l.max);
    assert!(l.p90 > 0.1 * stall_us, "corrected p90 {} µs", l.p90);
    // ...while timing from the actual send, as a closed-loop tool does, hides it: only the 8
    // requests in flight when the server froze saw it.
    let u = r.latency_uncorrected_us.unwrap();
    assert!(u.p99 < 0.2 * stall_us, "uncorrected p99 {} µs", u.p99);
    assert!(
        u.max > 0.9 * stall_us,
        "the 8 requests in flight did wait: {} µs",
        u.max
    );
    assert!(l.p99 > 5.0 * u.p99);
}

#[test]
fn constant_and_poisson_hit_their_rate_within_one_percent() {
    let server = ServerProc::start(&["--workers", "1"]);
    for arrival in [Arrival::Constant, Arrival::Poisson] {
        let r = go(&open(server.addr, 20_000.0, arrival, 7, 2));
        assert_eq!(r.errors, 0, "{arrival}: {:?}", r.errors_by_kind);
        let LoadSummary::OpenLoop(o) = &r.load else {
            panic!("an open-loop run reports its rate");
        };
        let off = (o.achieved_rps - 20_000.0).abs() / 20_000.0;
        assert!(off < 0.01, "{arrival}: achieved {} req/s", o.achieved_rps);
        assert!(
            !r.warned(|f| matches!(f, Finding::RateNotAchieved { .. })),
            "{:?}",
            r.warnings
        );
        if arrival == Arrival::Constant {
            assert_eq!(r.requests, 40_000, "a constant schedule is exact");
        }
    }
}

#[test]
fn the_seed_makes_poisson_runs_repeatable() {
    let server = ServerProc::start(&["--workers", "1"]);
    let a = go(&open(server.addr, 5_000.0, Arrival::Poisson, 42, 1));
    let b = go(&open(server.addr, 5_000.0, Arrival::Poisson, 42, 1));
    let c = go(&open(server.addr, 5_000.0, Arrival::Poisson, 43, 1));
    assert_eq!(a.errors + b.errors + c.errors, 0);
    // The arrivals in the window depend only on the seed, so the counts match exactly.
    assert_eq!(a.requests, b.requests);
    assert_ne!(a.requests, c.requests);
}

#[test]
fn a_rate_the_server_cannot_serve_is_flagged_not_hidden() {
    // One worker burning 2 ms per request serves at most 500 req/s; ask for 1,000.
    let server = ServerProc::start(&["--workers", "1"]);
    let mut cfg = open(server.addr, 1_000.0, Arrival::Constant, 1, 2);
    cfg.request = util::nines(nines_protocol::Op::Work, 0, 2_000).into();
    cfg.connections = 4;
    let r = go(&cfg);
    let LoadSummary::OpenLoop(o) = &r.load else {
        panic!("an open-loop run reports its rate");
    };
    assert!(o.achieved_rps < 700.0, "achieved {}", o.achieved_rps);
    assert!(
        r.warned(|f| matches!(f, Finding::RateNotAchieved { .. })),
        "{:?}",
        r.warnings
    );
    // The backlog grows all run long: the corrected tail is far beyond the 2 ms service time.
    assert!(
        r.latency_us.unwrap().p99 > 100_000.0,
        "corrected p99 {:?} µs",
        r.latency_us
    );
}
