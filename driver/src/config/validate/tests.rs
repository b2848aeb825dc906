//! Each bound names its flag: a table of bad values per flag, and the limits that depend on the
//! machine (descriptors) and on the request (bytes in flight).

use super::*;
use crate::config::{Arrivals, HttpRequest, RedisRequest};

const LIMITS: Limits = Limits {
    nofile: 20_000,
    nofile_hard: 20_000,
    now_unix_s: 1_000_000.0,
};

fn flags(cfg: &BenchConfig) -> Vec<&'static str> {
    cfg.validate_with(&LIMITS).iter().map(|e| e.flag).collect()
}

fn with_bench(f: impl FnOnce(&mut Bench)) -> BenchConfig {
    let mut b = Bench::default();
    f(&mut b);
    BenchConfig {
        load: Load::ClosedLoop(b),
        ..BenchConfig::default()
    }
}

fn open(rate_per_s: f64) -> BenchConfig {
    BenchConfig {
        load: Load::OpenLoop {
            bench: Bench::default(),
            rate: Rate::Steady { rate_per_s },
            arrivals: Arrivals::default(),
        },
        ..BenchConfig::default()
    }
}

#[test]
fn defaults_pass() {
    assert_eq!(flags(&BenchConfig::default()), Vec::<&str>::new());
    assert_eq!(flags(&open(1000.0)), Vec::<&str>::new());
    let storm = BenchConfig {
        load: Load::Storm(Storm::default()),
        ..BenchConfig::default()
    };
    assert_eq!(flags(&storm), Vec::<&str>::new());
}

#[test]
fn each_bad_value_names_its_flag() {
    let base = BenchConfig::default();
    let cases: Vec<(BenchConfig, &str)> = vec![
        (
            BenchConfig {
                connections: 0,
                ..base.clone()
            },
            "--connections",
        ),
        (
            BenchConfig {
                threads: 0,
                ..base.clone()
            },
            "--threads",
        ),
        (with_bench(|b| b.pipeline = 0), "--pipeline"),
        (open(0.0), "--rate"),
        (open(f64::NAN), "--rate"),
        (open(1e12), "--rate"),
        (
            with_bench(|b| b.stop = StopAt::Duration(Duration::ZERO)),
            "--duration",
        ),
        (with_bench(|b| b.stop = StopAt::Requests(0)), "--requests"),
        (
            BenchConfig {
                request_timeout: Duration::ZERO,
                ..base.clone()
            },
            "--timeout",
        ),
        (with_bench(|b| b.max_errors = 0), "--max-errors"),
        (
            BenchConfig {
                start_at_unix_s: Some(5.0),
                ..base.clone()
            },
            "--start-at",
        ),
    ];
    for (cfg, flag) in cases {
        assert_eq!(flags(&cfg), [flag], "{cfg:?}");
    }
}

#[test]
fn each_bad_request_or_storm_names_its_flag() {
    let base = BenchConfig::default();
    let cases: Vec<(BenchConfig, &str)> = vec![
        (
            BenchConfig {
                request: RequestSpec::Nines(NinesOp::Echo {
                    payload_bytes: (8192 << 20).into(),
                })
                .into(),
                ..base.clone()
            },
            "--payload",
        ),
        (
            BenchConfig {
                request: RequestSpec::Redis(RedisRequest::default()).into(),
                ..base.clone()
            },
            "--protocol",
        ),
        (
            BenchConfig {
                target: Target::Address("redis://127.0.0.1".into()),
                request: RequestSpec::Redis(RedisRequest {
                    command: "\"open".into(),
                    ..RedisRequest::default()
                })
                .into(),
                ..base.clone()
            },
            "--command",
        ),
        (
            BenchConfig {
                target: Target::Address("http://127.0.0.1/".into()),
                request: RequestSpec::Http(HttpRequest {
                    max_response_bytes: MIN_RESPONSE_BYTES - 1,
                    ..HttpRequest::default()
                })
                .into(),
                ..base.clone()
            },
            "--max-response",
        ),
        (
            BenchConfig {
                load: Load::Storm(Storm::default()),
                request: RequestSpec::Nines(NinesOp::Work { work_us: 1 }).into(),
                ..base.clone()
            },
            "--op",
        ),
        (
            BenchConfig {
                load: Load::Storm(Storm {
                    connect_rate: 0.0,
                    ..Storm::default()
                }),
                ..base.clone()
            },
            "--connect-rate",
        ),
        (
            BenchConfig {
                load: Load::Storm(Storm {
                    session: crate::config::Session::new(Some(0), None),
                    ..Storm::default()
                }),
                ..base.clone()
            },
            "--session-messages",
        ),
    ];
    for (cfg, flag) in cases {
        assert_eq!(flags(&cfg), [flag], "{cfg:?}");
    }
}

#[test]
fn connections_are_bounded_by_the_descriptor_limit() {
    let external = BenchConfig {
        target: Target::Address("h:1".into()),
        threads: 2,
        connections: 25_000,
        ..BenchConfig::default()
    };
    let e = external.validate_with(&LIMITS);
    assert_eq!(e.len(), 1);
    let msg = e[0].to_string();
    assert!(msg.contains("allowed 1 to 19,932"), "{msg}");
    assert!(msg.contains("ulimit -n") && msg.contains("20,000"), "{msg}");
    // Embedded, both ends of every connection are this process's descriptors.
    let embedded = BenchConfig {
        connections: 10_000,
        threads: 1,
        target: Target::Embedded { server_workers: 1 },
        ..BenchConfig::default()
    };
    let msg = embedded.validate_with(&LIMITS)[0].to_string();
    assert!(
        msg.contains("allowed 1 to 9,965") && msg.contains("two descriptors"),
        "{msg}"
    );
    // A storm is held to the same limit, per process, and told how to spread.
    let storm = BenchConfig {
        load: Load::Storm(Storm::default()),
        connections: 100_000,
        ..external
    };
    let msg = storm.validate_with(&LIMITS)[0].to_string();
    assert!(
        msg.contains("allowed 1 to 19,932") && msg.contains("--processes 6"),
        "{msg}"
    );
    assert!(storm.validate_over(&LIMITS, 6).is_empty());
    let msg = storm.validate_over(&LIMITS, 4)[0].to_string();
    assert!(
        msg.contains("25,000 per process over 4 processes") && msg.contains("--processes 6"),
        "{msg}"
    );
    // Spread, the embedded server still holds every connection in this process.
    let embedded_storm = BenchConfig {
        target: Target::Embedded { server_workers: 1 },
        ..storm.clone()
    };
    let e = embedded_storm.validate_over(&LIMITS, 6);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].to_string().contains("started on its own"), "{}", e[0]);
    let zero = BenchConfig {
        connections: 0,
        ..storm
    };
    let msg = zero.validate_with(&LIMITS)[0].to_string();
    assert!(msg.contains("allowed 1 to 19,932"), "{msg}");
}

#[test]
fn requests_in_flight_are_bounded_in_bytes() {
    let cfg = BenchConfig {
        target: Target::Address("h:1".into()),
        connections: 10_000,
        load: Load::ClosedLoop(Bench {
            pipeline: 200,
            ..Bench::default()
        }),
        request: RequestSpec::Nines(NinesOp::Echo {
            payload_bytes: (1 << 19).into(),
        })
        .into(),
        ..BenchConfig::default()
    };
    let e = cfg.validate_with(&LIMITS);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].to_string().contains("in flight"), "{}", e[0]);
}
