//! Tests of the request handler (server/src/handler.rs).

use super::*;
use nines_protocol::{DecodeError, Header};

fn handler(protocol: Protocol) -> (Handler, std::sync::Arc<Counters>) {
    let mut reg = Registry::default();
    let c = reg.register();
    let cfg = ServerConfig {
        protocol,
        max_frame_bytes: 4096,
        work_cap_us: 1000,
        ..ServerConfig::default()
    };
    (Handler::new(&cfg, reg), c)
}

fn unlimited() -> Allowance {
    Allowance::UNLIMITED
}

/// Processes `input` into a fresh output buffer, expecting no decode error.
fn run(h: &Handler, c: &Counters, input: &[u8], allow: &mut Allowance) -> Processed {
    h.process(
        input,
        &mut Vec::new(),
        Instant::now(),
        c,
        &mut Vec::new(),
        allow,
        &mut Session::default(),
    )
    .unwrap()
}

fn req(op: Op, id: u64, arg: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode(
        &Header {
            arg,
            sent_ns: 99,
            ..Header::request(op, id)
        },
        payload,
        &mut v,
    );
    v
}

#[test]
fn pipelined_frames_get_replies_in_order_and_partial_tail_is_kept() {
    let (h, c) = handler(Protocol::Nines);
    let mut input = req(Op::Echo, 1, 0, b"one");
    input.extend(req(Op::Source, 2, 300, b""));
    input.extend(req(Op::Work, 3, 5, b""));
    input.extend(req(Op::Stats, 4, 0, b""));
    let full = input.len();
    input.extend(&req(Op::Echo, 5, 0, b"partial")[..10]);
    let mut out = Vec::new();
    let mut offs = Vec::new();
    let p = h
        .process(
            &input,
            &mut out,
            Instant::now(),
            &c,
            &mut offs,
            &mut unlimited(),
            &mut Session::default(),
        )
        .unwrap();
    assert_eq!((p.consumed, p.requests), (full, 4));
    assert!(p.finished_at.is_some());
    let mut rest = &out[..];
    let mut ids = Vec::new();
    while let Some((f, n)) = decode(rest, 1 << 20).unwrap() {
        assert!(f.header.flags.contains(Flags::RESPONSE));
        assert_eq!(f.header.sent_ns, 99);
        assert!(f.header.residence_ns > 0);
        match f.header.op {
            Op::Echo => assert_eq!(f.payload, b"one"),
            Op::Source => assert!(f.payload.len() == 300 && payload::check(2, f.payload)),
            Op::Work => assert!(f.payload.is_empty()),
            Op::Stats => {
                // The counters, and what this process holds.
                let pairs = nines_protocol::stats::parse(f.payload).unwrap();
                let held = nines_protocol::stats::ProcessUsage::from_pairs(&pairs);
                assert!(
                    held.is_some_and(|u| u.rss_bytes > 0 && u.fds > 0),
                    "{pairs:?}"
                );
            }
        }
        ids.push(f.header.request_id);
        rest = &rest[n..];
    }
    assert_eq!(ids, [1, 2, 3, 4]);
}

#[test]
fn caps_are_applied_and_flagged() {
    let (h, c) = handler(Protocol::Nines);
    let mut input = req(Op::Work, 1, 1_000_000, b"");
    input.extend(req(Op::Source, 2, 1_000_000, b""));
    let mut out = Vec::new();
    let started = Instant::now();
    h.process(
        &input,
        &mut out,
        started,
        &c,
        &mut Vec::new(),
        &mut unlimited(),
        &mut Session::default(),
    )
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "work cap of 1 ms was not applied"
    );
    let (w, n) = decode(&out, 1 << 20).unwrap().unwrap();
    assert!(w.header.flags.contains(Flags::CAPPED));
    let (s, _) = decode(&out[n..], 1 << 20).unwrap().unwrap();
    assert!(s.header.flags.contains(Flags::CAPPED));
    assert_eq!(s.payload.len(), 4096 - HEADER_LEN);
    assert_eq!(c.work_capped.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn bad_frame_after_good_ones_keeps_earlier_replies() {
    let (h, c) = handler(Protocol::Nines);
    let mut input = req(Op::Echo, 1, 0, b"x");
    input.extend_from_slice(b"garbage");
    let mut out = Vec::new();
    let err = h
        .process(
            &input,
            &mut out,
            Instant::now(),
            &c,
            &mut Vec::new(),
            &mut unlimited(),
            &mut Session::default(),
        )
        .unwrap_err();
    assert_eq!(err.0.requests, 1);
    assert_eq!(err.1, RequestError::Frame(DecodeError::BadMagic));
    assert!(decode(&out, 1 << 20).unwrap().is_some());
}

#[test]
fn output_bound_stops_decoding_and_leaves_the_rest() {
    let (h, c) = handler(Protocol::Nines);
    let mut input = Vec::new();
    for id in 0..10 {
        input.extend(req(Op::Source, id, 1000, b""));
    }
    let mut out = Vec::new();
    let mut allow = Allowance {
        out_limit: 2500,
        ..unlimited()
    };
    let p = h
        .process(
            &input,
            &mut out,
            Instant::now(),
            &c,
            &mut Vec::new(),
            &mut allow,
            &mut Session::default(),
        )
        .unwrap();
    // Three replies of 1040 bytes pass 2500; the other seven requests wait.
    assert_eq!(p.requests, 3);
    assert_eq!(p.consumed, 3 * HEADER_LEN);
    let p = h
        .process(
            &input[p.consumed..],
            &mut Vec::new(),
            Instant::now(),
            &c,
            &mut Vec::new(),
            &mut unlimited(),
            &mut Session::default(),
        )
        .unwrap();
    assert_eq!(p.requests, 7);
}

#[test]
fn a_turn_is_bounded_in_requests_and_in_work_time() {
    let (h, c) = handler(Protocol::Nines);
    let mut input = Vec::new();
    for id in 0..10 {
        input.extend(req(Op::Echo, id, 0, b"x"));
    }
    let mut allow = Allowance {
        requests: 4,
        ..unlimited()
    };
    let p = run(&h, &c, &input, &mut allow);
    assert_eq!((p.requests, allow.spent()), (4, true));
    // Work: 300 µs each against 500 µs for the turn: the second one spends it.
    let mut work = Vec::new();
    for id in 0..5 {
        work.extend(req(Op::Work, id, 300, b""));
    }
    let mut allow = Allowance {
        work_us: 500,
        ..unlimited()
    };
    let p = run(&h, &c, &work, &mut allow);
    assert_eq!(p.requests, 2);
    assert_eq!(p.consumed, 2 * HEADER_LEN);
}

#[test]
fn a_large_source_reply_is_produced_a_piece_at_a_time() {
    let (h, c) = handler(Protocol::Nines);
    let mut input = req(Op::Source, 7, 4000, b"");
    input.extend(req(Op::Echo, 8, 0, b"after"));
    let mut out = Vec::new();
    let mut allow = Allowance {
        out_limit: 1000,
        ..unlimited()
    };
    let p = h
        .process(
            &input,
            &mut out,
            Instant::now(),
            &c,
            &mut Vec::new(),
            &mut allow,
            &mut Session::default(),
        )
        .unwrap();
    // The header and as much payload as fits; the Echo behind it waits.
    assert_eq!((p.requests, p.consumed, out.len()), (1, HEADER_LEN, 1000));
    let mut rest = p.source.expect("the rest of the Source reply");
    let mut limit = 1000;
    loop {
        limit += 1500;
        let allow = Allowance {
            out_limit: limit,
            ..unlimited()
        };
        if h.continue_source(&mut rest, &mut out, &allow) {
            break;
        }
    }
    let (f, n) = decode(&out, 1 << 20).unwrap().unwrap();
    assert_eq!(n, out.len());
    assert!(f.payload.len() == 4000 && payload::check(7, f.payload));
}

#[test]
fn a_reply_that_does_not_fit_the_budget_is_not_started() {
    let (h, c) = handler(Protocol::Nines);
    let mut input = req(Op::Echo, 1, 0, &[7; 100]);
    input.extend(req(Op::Echo, 2, 0, &[7; 100]));
    input.extend(req(Op::Source, 3, 10_000, b""));
    let mut out = Vec::new();
    // Room for one echo reply (140 bytes) and a Source header plus 60 payload bytes.
    let mut allow = Allowance {
        budget: 140 + 100,
        ..unlimited()
    };
    let p = h
        .process(
            &input,
            &mut out,
            Instant::now(),
            &c,
            &mut Vec::new(),
            &mut allow,
            &mut Session::default(),
        )
        .unwrap();
    assert_eq!((p.requests, p.starved, out.len()), (1, Some(140), 140));
    assert_eq!(allow.budget, 100);
    // The rest waits; with 100 bytes more, the second echo would not fit either.
    let mut allow = Allowance {
        budget: 150,
        ..unlimited()
    };
    let p = h
        .process(
            &input[p.consumed..],
            &mut out,
            Instant::now(),
            &c,
            &mut Vec::new(),
            &mut allow,
            &mut Session::default(),
        )
        .unwrap();
    assert_eq!(out.len(), 280, "the second echo reply fit in 150");
    assert_eq!(
        (p.requests, p.starved),
        (1, Some(HEADER_LEN)),
        "10 bytes left: not even a Source header"
    );
}

#[test]
fn echo_protocol_returns_bytes_verbatim() {
    let (h, c) = handler(Protocol::Echo);
    let mut out = Vec::new();
    let p = h
        .process(
            b"hello\n",
            &mut out,
            Instant::now(),
            &c,
            &mut Vec::new(),
            &mut unlimited(),
            &mut Session::default(),
        )
        .unwrap();
    assert_eq!((p.consumed, out.as_slice()), (6, &b"hello\n"[..]));
}
