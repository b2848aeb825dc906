//! Storm sessions against the real nines-server: clients that close after N messages or after a
//! time connected, replaced at once, add up exactly on both sides (sessions, replies, connects
//! the server accepted), in one driver process or merged from several, over TLS too; poisson
//! think time keeps its mean; and a bad session flag is one line naming it, exit status 2.

mod util;

use serde_json::Value;
use util::certs::Certs;
use util::nines;
use util::server::{counter, server, stop_srv, storm};

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn args(target: &str, flags: &[&str]) -> Vec<String> {
    std::iter::once(target)
        .chain(flags.iter().copied())
        .map(ToString::to_string)
        .collect()
}

/// The checks every session storm passes when nothing fails: no error, nothing lost, every
/// message echoed, the population whole at the end (clients open, or replacements still
/// connecting), every session `per_session` messages when that is known, and the connect rate
/// is the connects over the run. The report's sessions.
fn sessions_add_up(tag: &str, r: &Value, population: u64, per_session: Option<u64>) -> Value {
    let st = &r["load"];
    let s = st["sessions"].clone();
    assert_eq!(n(&r["errors"]), 0, "{tag}: {}", r["errors_by_kind"]);
    assert_eq!(
        n(&r["driver"]["connections_lost"]),
        0,
        "{tag}: {}",
        r["driver"]
    );
    let requests = n(&r["requests"]);
    assert_eq!(
        requests,
        n(&r["driver"]["requests_sent"]),
        "{tag}: all echoed"
    );
    let (started, connected) = (n(&st["started"]), n(&st["connected"]));
    assert_eq!(
        n(&st["open_at_end"]) + (started - connected),
        population,
        "{tag}: open or connecting at the end: {st}"
    );
    assert_eq!(
        n(&s["completed"]) + n(&st["open_at_end"]),
        connected,
        "{tag}: every client that connected completed its session or is open: {st}"
    );
    if let Some(m) = per_session {
        assert_eq!(
            n(&s["completed"]) * m + n(&s["unfinished_replies"]),
            requests,
            "{tag}: {m} replies per completed session, plus the unfinished ones': {s}"
        );
    }
    // Connects over the run: the rate times the run's length (rounding aside; merged parts'
    // rates add, each over its own run, which the merged span may exceed by a few ms: 2%).
    let connects = f(&s["connects_per_s"]) * f(&r["duration_s"]);
    assert!(
        (connects - started as f64).abs() <= 1.0 + 0.02 * started as f64,
        "{tag}: {connects} connects from the rate, {started} started"
    );
    assert!(st["connect_time_us"]["p99"].as_f64().unwrap() > 0.0, "{st}");
    s
}

#[test]
fn message_sessions_add_up_exactly_in_one_process_or_merged_from_two() {
    let (srv, addr) = server(&["--workers", "1"], "");
    let flags = |extra: &[&'static str]| {
        let mut a = vec![
            "-c",
            "40",
            "--connect-rate",
            "2000",
            "--interval",
            "20ms",
            "--session-messages",
            "3",
            "-d",
            "2s",
            "-t",
            "1",
        ];
        a.extend_from_slice(extra);
        args(&addr.to_string(), &a)
    };
    let (code, one) = storm("messages", &flags(&[]), "");
    assert_eq!(code, 0, "{one}");
    let s = sessions_add_up("one process", &one, 40, Some(3));
    let completed = n(&s["completed"]);
    // Each client finished sessions; none took less than its 3 messages' two gaps (40 ms), so
    // no more than 40 × (window / 40 ms) ended.
    let window_s = f(&one["duration_s"]);
    let most = 40.0 * window_s / 0.040;
    assert!(
        completed > 40 && completed as f64 <= most,
        "{completed} sessions, at most {most:.0}"
    );
    let text = util::ok(&["report", &one_json("messages")]);
    assert!(
        text.contains("sessions of 3 messages") && text.contains("completed,"),
        "{text}"
    );
    let (code, two) = storm("messages-merged", &flags(&["--processes", "2"]), "");
    assert_eq!(code, 0, "{two}");
    assert_eq!(two["origin"], "merged");
    let s2 = sessions_add_up("two processes", &two, 40, Some(3));
    let parts: u64 = two["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| n(&p["requests"]))
        .sum();
    assert_eq!(parts, n(&two["requests"]), "{}", two["parts"]);
    // The server accepted every connect of both storms, and one check of each (the parent's
    // for two processes, then one per child), and answered every message.
    let stopped = stop_srv(srv);
    let started = n(&one["load"]["started"]) + n(&two["load"]["started"]);
    assert_eq!(
        counter(&stopped, "connections_accepted"),
        started + 1 + 3,
        "{stopped}"
    );
    assert_eq!(
        counter(&stopped, "connections_closed"),
        counter(&stopped, "connections_accepted"),
        "{stopped}"
    );
    assert_eq!(
        counter(&stopped, "requests"),
        n(&one["requests"]) + n(&two["requests"]),
        "{stopped}"
    );
    assert!(n(&s2["completed"]) > 40, "{s2}");
}

/// Where `storm(tag, ...)` wrote its report.
fn one_json(tag: &str) -> String {
    util::scratch("storm")
        .join(format!("{tag}.json"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn duration_sessions_come_at_population_times_run_over_duration() {
    let (srv, addr) = server(&["--workers", "1"], "");
    // Messages at 0, 50, 100, 150 and 200 ms of each session; its end at 250 ms takes the
    // place of the sixth.
    let a = args(
        &addr.to_string(),
        &[
            "-c",
            "50",
            "--connect-rate",
            "5000",
            "--interval",
            "50ms",
            "--session-duration",
            "250ms",
            "-d",
            "2s",
            "-t",
            "1",
        ],
    );
    let (code, r) = storm("duration", &a, "");
    assert_eq!(code, 0, "{r}");
    let s = sessions_add_up("duration", &r, 50, Some(5));
    // Each slot's sessions follow one another, each 250 ms and a reconnect long: about
    // population × run / duration of them. Exactly, each client completes as many whole
    // sessions as fit in the run: never more than run / duration, and one fewer once its
    // reconnects add up (with reconnects of up to 35 ms, not fewer than that).
    let fit = (f(&r["duration_s"]) / 0.250).floor();
    let completed = n(&s["completed"]) as f64;
    assert!(
        completed <= 50.0 * fit && completed >= 50.0 * (fit - 1.0),
        "{completed} sessions, from {} to {} expected",
        50.0 * (fit - 1.0),
        50.0 * fit
    );
    let stopped = stop_srv(srv);
    assert_eq!(
        counter(&stopped, "connections_accepted"),
        n(&r["load"]["started"]) + 1,
        "{stopped}"
    );
}

#[test]
fn poisson_think_time_keeps_the_interval_as_its_mean_gap() {
    let (srv, addr) = server(&["--workers", "1"], "");
    // 100 held connections opened within 10 ms, a message every 10 ms on average for 2 s:
    // about 20,000 gaps, whose count has a standard deviation under 1%.
    let a = args(
        &addr.to_string(),
        &[
            "-c",
            "100",
            "--connect-rate",
            "10000",
            "--interval",
            "10ms",
            "--think",
            "poisson",
            "--seed",
            "7",
            "-d",
            "2s",
            "-t",
            "1",
        ],
    );
    let (code, r) = storm("poisson", &a, "");
    assert_eq!(code, 0, "{r}");
    assert_eq!(n(&r["errors"]), 0, "{}", r["errors_by_kind"]);
    assert!(r["load"].get("sessions").is_none(), "held: {}", r["load"]);
    let load = &r["manifest"]["config"]["load"];
    assert_eq!(
        (&load["think"], &load["seed"]),
        (&"poisson".into(), &7.into()),
        "{load}"
    );
    // Each connection sends its first message as it opens, then one per gap until the end of
    // the ramp (10 ms, so on average 5 ms after it opened) and the 2 s hold.
    let sent = n(&r["driver"]["requests_sent"]) as f64;
    let mean_gap_s = 100.0 * 2.005 / (sent - 100.0);
    assert!(
        (mean_gap_s / 0.010 - 1.0).abs() < 0.05,
        "mean gap {:.3} ms for a 10 ms interval (within 5%)",
        mean_gap_s * 1e3
    );
    stop_srv(srv);
}

#[test]
fn tls_sessions_handshake_for_every_replacement() {
    let certs = Certs::new();
    let (cert, key) = (
        certs.server.cert.to_str().unwrap(),
        certs.server.key.to_str().unwrap(),
    );
    let (srv, addr) = server(
        &["--workers", "1", "--tls-cert", cert, "--tls-key", key],
        "",
    );
    let a = args(
        &addr.to_string(),
        &[
            "--tls",
            "--cacert",
            certs.ca.to_str().unwrap(),
            "-c",
            "20",
            "--connect-rate",
            "2000",
            "--interval",
            "20ms",
            "--session-messages",
            "2",
            "-d",
            "1s",
            "-t",
            "1",
        ],
    );
    let (code, r) = storm("tls", &a, "");
    assert_eq!(code, 0, "{r}");
    sessions_add_up("tls", &r, 20, Some(2));
    let t = &r["tls"];
    let connected = n(&r["load"]["connected"]);
    assert_eq!(
        n(&t["handshakes"]),
        connected,
        "every replacement's too: {t}"
    );
    assert!(n(&t["resumed"]) > 0, "replacements resume: {t}");
    assert!(t["handshake_us"]["p99"].as_f64().unwrap() > 0.0, "{t}");
    let stopped = stop_srv(srv);
    // The server finished the handshakes the driver did, the certificate check's, and those of
    // replacements still connecting when the run ended.
    let server_side =
        counter(&stopped, "tls_handshakes_full") + counter(&stopped, "tls_handshakes_resumed");
    let started = n(&r["load"]["started"]);
    assert!(
        (connected + 1..=started + 1).contains(&server_side),
        "{server_side} handshakes on the server, {connected} on the driver: {stopped}"
    );
    assert_eq!(counter(&stopped, "errors_tls_handshake"), 0, "{stopped}");
}

#[test]
fn a_bad_session_flag_is_one_line_naming_it() {
    for (args, says) in [
        (
            &["storm", "--session-messages", "0"][..],
            "--session-messages 0 is out of range",
        ),
        (
            &["storm", "--session-duration", "0s"],
            "--session-duration 0s is out of range",
        ),
        (
            &["storm", "--seed", "3"],
            "--seed applies to --think poisson",
        ),
        (
            &["storm", "--think", "sometimes"],
            "invalid value 'sometimes' for '--think",
        ),
        (
            &["bench", "--session-messages", "3"],
            "unexpected argument '--session-messages'",
        ),
        (
            &["bench", "--think", "poisson"],
            "unexpected argument '--think'",
        ),
    ] {
        let out = nines(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
