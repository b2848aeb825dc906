//! Weighted request mixes (`--request`, `--request-file`) and payload sizes drawn per request
//! (`--payload MIN..MAX`, `--payload-file`) against real servers on loopback: each line's
//! count in the report (`by_request`) is checked against what the server itself counted —
//! nginx's access log, Redis' INFO commandstats, nines-server's byte counters — and each
//! drawn share and size against its distribution, within 4 standard deviations (a false
//! alarm about once in 16,000 checks). Bad mixes are one line naming the flag, and exit 2.

mod util;

use std::collections::BTreeMap;

use nines_protocol::HEADER_LEN;
use serde_json::Value;
use util::peers::{free_port, Nginx, Redis};
use util::server::{counter, server, stop_srv};
use util::{nines, scratch};

/// Runs `nines bench -t 1 -w 0s ARGS --json FILE` (no warm-up: every reply is measured, so
/// each line's count is every request of it); the exit code and the report.
fn bench(tag: &str, args: &[&str]) -> (i32, Value) {
    util::bench_report("mix", tag, args)
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Checks a mix run went without error and its lines add up to its replies; each line's
/// measured replies by name, and each line's weight by name.
fn mix_counts(tag: &str, code: i32, r: &Value) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    assert_eq!(code, 0, "{tag}: exit code; report {r}");
    assert_eq!(n(&r["errors"]), 0, "{tag}: {}", r["errors_by_kind"]);
    let lines = r["by_request"]
        .as_array()
        .expect("a mix keeps results per line");
    let total = n(&r["requests"]);
    assert_eq!(
        total,
        n(&r["driver"]["requests_sent"]),
        "{tag}: all answered"
    );
    let weights: u64 = lines.iter().map(|l| n(&l["weight"])).sum();
    let (mut counts, mut by_weight) = (BTreeMap::new(), BTreeMap::new());
    for l in lines {
        let name = l["name"].as_str().unwrap().to_string();
        let (got, weight) = (n(&l["requests"]), n(&l["weight"]));
        assert_eq!(
            l["share"].as_f64(),
            Some(weight as f64 / weights as f64),
            "{l}"
        );
        assert_eq!(
            l["reply_share"].as_f64(),
            Some(got as f64 / total as f64),
            "{l}"
        );
        assert_eq!(n(&l["errors"]), 0, "{tag}: {name}");
        counts.insert(name.clone(), got);
        by_weight.insert(name, weight);
    }
    assert_eq!(counts.values().sum::<u64>(), total, "{tag}: lines add up");
    (counts, by_weight)
}

/// Checks `count` of `total` independent draws is within 4 binomial standard deviations of
/// `share`.
fn assert_share(what: &str, count: u64, total: u64, share: f64) {
    let sd = (share * (1.0 - share) / total as f64).sqrt();
    let got = count as f64 / total as f64;
    assert!(
        (got - share).abs() <= 4.0 * sd,
        "{what}: {count} of {total} ({got:.4}), its weight asks {share:.4} (±{:.4} at 4 sd)",
        4.0 * sd
    );
}

/// Checks every line's count against its weight's share of all the weights.
fn assert_shares(tag: &str, counts: &BTreeMap<String, u64>, weights: &BTreeMap<String, u64>) {
    let (total, weight_sum) = (counts.values().sum::<u64>(), weights.values().sum::<u64>());
    for (name, count) in counts {
        let share = weights[name] as f64 / weight_sum as f64;
        assert_share(&format!("{tag}: {name}"), *count, total, share);
    }
}

/// Checks the mean of `sizes`, drawn uniformly from `min..=max`, is within 4 standard errors
/// of the middle, and that the draws reach both ends of the range (a tenth of it each: missing
/// one is less likely than 1e-30 at the counts here).
fn assert_uniform(what: &str, sizes: &[u64], min: u64, max: u64) {
    assert!(
        sizes.iter().all(|s| (min..=max).contains(s)),
        "{what}: a size outside {min}..={max}: {sizes:?}"
    );
    let k = sizes.len() as f64;
    let mean = sizes.iter().sum::<u64>() as f64 / k;
    let width = (max - min + 1) as f64;
    let sd = ((width * width - 1.0) / 12.0).sqrt();
    let middle = (min + max) as f64 / 2.0;
    assert!(
        (mean - middle).abs() <= 4.0 * sd / k.sqrt(),
        "{what}: mean {mean:.1} of {k} sizes, {middle} expected (±{:.1} at 4 sd)",
        4.0 * sd / k.sqrt()
    );
    let tenth = (max - min) / 10;
    assert!(sizes.iter().any(|&s| s < min + tenth), "{what}: none small");
    assert!(sizes.iter().any(|&s| s > max - tenth), "{what}: none large");
}

/// One access-log line: `$request_uri $status $request_length $content_length $bytes_sent`.
struct Logged {
    uri: String,
    status: u16,
    request_length: u64,
    content_length: Option<u64>,
    bytes_sent: u64,
}

/// nginx answering 200 on /a, /b and /c, logging each request's path, status, length,
/// Content-Length and the bytes of its answer. /c reads its body: nginx leaves a body it only
/// discards out of `$request_length`, while a body it reads (here to proxy it to /sink, in
/// memory) is counted — so `$request_length` minus the head is the body nginx took off the
/// wire.
fn nginx_for_mixes(tag: &str) -> Nginx {
    let port = free_port();
    Nginx::start_logging(
        &scratch(tag),
        port,
        "$request_uri $status $request_length $content_length $bytes_sent",
        &format!(
            "listen 127.0.0.1:{port};\n    \
             location = /a {{ return 200 \"a\\n\"; }}\n    \
             location = /b {{ return 200 \"b\\n\"; }}\n    \
             location = /c {{ client_max_body_size 1m; client_body_buffer_size 1m; \
             proxy_pass http://127.0.0.1:{port}/sink; }}\n    \
             location = /sink {{ return 200 \"c\\n\"; }}"
        ),
    )
}

/// Stops nginx; its log lines, parsed.
fn logged(nginx: Nginx) -> Vec<Logged> {
    nginx
        .stop_and_log()
        .iter()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 5, "{line}");
            Logged {
                uri: f[0].to_string(),
                status: f[1].parse().unwrap(),
                request_length: f[2].parse().unwrap(),
                content_length: f[3].parse().ok(),
                bytes_sent: f[4].parse().unwrap(),
            }
        })
        .collect()
}

/// Checks the bytes the report says were sent and received are those nginx took and gave on
/// the driver's connections (not on its own, proxying to /sink): every request whole, body
/// included, and every answer.
fn assert_transfer(r: &Value, log: &[Logged]) {
    let driver = log.iter().filter(|l| l.uri != "/sink");
    let (took, gave) = driver.fold((0, 0), |(t, g), l| (t + l.request_length, g + l.bytes_sent));
    assert_eq!(n(&r["transfer"]["sent_bytes"]), took, "{}", r["transfer"]);
    assert_eq!(
        n(&r["transfer"]["received_bytes"]),
        gave,
        "{}",
        r["transfer"]
    );
}

/// How many log lines have path `uri`.
fn count(log: &[Logged], uri: &str) -> u64 {
    log.iter().filter(|l| l.uri == uri).count() as u64
}

/// Checks each /c request's body reached nginx whole: its head (`$request_length` less
/// Content-Length) is the same length for every one, as it is when every Content-Length has
/// as many digits. Returns the body lengths.
fn bodies_read(log: &[Logged]) -> Vec<u64> {
    let posts: Vec<&Logged> = log.iter().filter(|l| l.uri == "/c").collect();
    let heads: std::collections::BTreeSet<u64> = posts
        .iter()
        .map(|l| {
            let body = l.content_length.expect("a POST says its Content-Length");
            l.request_length.checked_sub(body).expect("body counted")
        })
        .collect();
    assert_eq!(heads.len(), 1, "one head length: {heads:?}");
    posts.iter().map(|l| l.content_length.unwrap()).collect()
}

/// A 7/2/1 mix of two GETs and a POST of a body file: nginx logs exactly as many requests
/// of each path as the report counts for its line, every answer a 200, each POST's body
/// read whole; lines are reported under their `name=` or as written; each line's share is
/// its weight's within binomial tolerance.
#[test]
fn nginx_logs_each_line_of_a_mix_as_often_as_nines_reports_it() {
    let nginx = nginx_for_mixes("mix-nginx");
    let body = scratch("mix").join("upload.bin");
    let body_bytes: Vec<u8> = (0..1234u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&body, &body_bytes).unwrap();
    let url = format!("http://{}/", nginx.addr);
    let upload = format!("1 name=up POST /c @{}", body.display());
    let (code, r) = bench(
        "nginx-mix",
        &[
            &url,
            "-c",
            "2",
            "-n",
            "3000",
            "--request",
            "7 name=a GET /a",
            "--request",
            "2 GET /b",
            "--request",
            &upload,
        ],
    );
    let (counts, weights) = mix_counts("nginx-mix", code, &r);
    assert_eq!(n(&r["requests"]), 3000);
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        ["GET /b", "a", "up"],
        "named by name=, else as written"
    );
    assert_shares("nginx-mix", &counts, &weights);
    let log = logged(nginx);
    assert!(log.iter().all(|l| l.status == 200), "every answer a 200");
    assert_eq!(count(&log, "/a"), counts["a"]);
    assert_eq!(count(&log, "/b"), counts["GET /b"]);
    assert_eq!(count(&log, "/c"), counts["up"]);
    assert_eq!(count(&log, "/sink"), counts["up"], "each body proxied on");
    assert_eq!(log.len() as u64, 3000 + counts["up"], "nothing else logged");
    let bodies = bodies_read(&log);
    assert!(
        bodies.iter().all(|&b| b == body_bytes.len() as u64),
        "the file's bytes, each time"
    );
    assert_transfer(&r, &log);
    assert!(
        log.iter()
            .filter(|l| l.uri != "/c" && l.uri != "/sink")
            .all(|l| l.content_length.is_none()),
        "a GET sends no body"
    );
}

/// `--payload 100..300` sizes the body of a POST line that names no file, one size drawn per
/// request: every body nginx read is within 100..=300 bytes, read whole, their mean is 200
/// within 4 standard errors of a uniform draw, and they span the range; a GET line beside it
/// sends none.
#[test]
fn nginx_reads_post_bodies_sized_by_the_payload_range() {
    let nginx = nginx_for_mixes("mix-nginx-sizes");
    let url = format!("http://{}/", nginx.addr);
    let (code, r) = bench(
        "nginx-sizes",
        &[
            &url,
            "-c",
            "2",
            "-n",
            "2000",
            "--request",
            "1 GET /a",
            "--request",
            "4 POST /c",
            "--payload",
            "100..300",
        ],
    );
    let (counts, weights) = mix_counts("nginx-sizes", code, &r);
    assert_shares("nginx-sizes", &counts, &weights);
    let log = logged(nginx);
    assert!(log.iter().all(|l| l.status == 200), "every answer a 200");
    assert_eq!(count(&log, "/a"), counts["GET /a"]);
    assert_eq!(count(&log, "/c"), counts["POST /c"]);
    let bodies = bodies_read(&log);
    assert_uniform("POST bodies", &bodies, 100, 300);
    assert_transfer(&r, &log);
    assert!(
        log.iter()
            .filter(|l| l.uri == "/a")
            .all(|l| l.content_length.is_none()),
        "a GET sends no body"
    );
}

/// `calls=` of `cmdstat_NAME` in what INFO commandstats answered (0 if never called).
fn calls(info: &str, command: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |v| v.parse().unwrap())
}

/// A 9:1 GET/SET mix with `__data__` of 10..50 bytes over 50 keys: Redis ran exactly as many
/// GETs and SETs as the report counts for each line (the driver sends nothing else), answered
/// each SET with a status and each GET with a value or nil; the share is 9:1 within binomial
/// tolerance; every value stored is 10..=50 bytes, in at most 50 keys.
#[test]
fn redis_runs_each_line_of_a_mix_as_often_as_nines_reports_it() {
    let redis = Redis::start();
    let before = redis.commands_processed();
    let url = format!("redis://{}", redis.addr);
    let (code, r) = bench(
        "redis-mix",
        &[
            &url,
            "-c",
            "2",
            "-n",
            "3000",
            "--request",
            "9 GET key:__rand__",
            "--request",
            "1 SET key:__rand__ __data__",
            "--payload",
            "10..50",
            "--keyspace",
            "50",
        ],
    );
    let (counts, weights) = mix_counts("redis-mix", code, &r);
    assert_shares("redis-mix", &counts, &weights);
    let (gets, sets) = (
        counts["GET key:__rand__"],
        counts["SET key:__rand__ __data__"],
    );
    // INFO counts the INFO before it, not itself.
    assert_eq!(redis.commands_processed() - before - 1, gets + sets);
    let info = redis.command(&["INFO", "commandstats"]);
    assert_eq!(calls(&info, "get"), gets, "{info}");
    assert_eq!(calls(&info, "set"), sets, "{info}");
    let kinds = &r["driver"]["reply_kinds"];
    assert_eq!(n(&kinds["status"]), sets, "{kinds}");
    assert_eq!(
        kinds["bulk"].as_u64().unwrap_or(0) + kinds["nil"].as_u64().unwrap_or(0),
        gets,
        "{kinds}"
    );
    // One command for every value's length (each reply costs this helper a read timeout).
    let lengths = redis.command(&[
        "EVAL",
        "local t = {} for i, k in ipairs(redis.call('KEYS', '*')) do \
         t[i] = redis.call('STRLEN', k) end return t",
        "0",
    ]);
    let lengths: Vec<u64> = lengths
        .lines()
        .filter_map(|l| l.strip_prefix(':'))
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        !lengths.is_empty() && lengths.len() <= 50,
        "{} keys for a keyspace of 50",
        lengths.len()
    );
    assert!(
        lengths.iter().all(|l| (10..=50).contains(l)),
        "every value 10..=50 bytes: {lengths:?}"
    );
}

/// Bytes a nines request or reply carries besides its payload.
const HEADER: u64 = HEADER_LEN as u64;

/// `--payload-file` sizes each echo from its list, each line equally likely: nines-server
/// read and wrote exactly the bytes the driver says it sent and received, and those bytes,
/// less a header per request, split exactly into 100-byte and 4 KiB payloads, the 4 KiB ones
/// a quarter of them (one line of four) within binomial tolerance.
#[test]
fn nines_server_receives_sizes_drawn_from_a_payload_file() {
    let sizes = scratch("mix").join("sizes.txt");
    std::fs::write(&sizes, "# sizes from a log\n100\n100\n100\n4k\n\n").unwrap();
    let (srv, addr) = server(&["--workers", "1"], "");
    let (code, r) = bench(
        "payload-file",
        &[
            &addr.to_string(),
            "-c",
            "2",
            "-n",
            "2000",
            "--payload-file",
            sizes.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(n(&r["errors"]), 0, "{}", r["errors_by_kind"]);
    let stopped = stop_srv(srv);
    let requests = counter(&stopped, "requests");
    assert_eq!(requests, 2000, "{stopped}");
    let bytes_in = counter(&stopped, "bytes_in");
    assert_eq!(n(&r["transfer"]["sent_bytes"]), bytes_in, "{stopped}");
    assert_eq!(n(&r["transfer"]["received_bytes"]), bytes_in, "echoed");
    // 100 * small + 4096 * large = payload, small + large = requests.
    let payload = bytes_in - requests * HEADER;
    let over = payload - 100 * requests;
    assert_eq!(over % (4096 - 100), 0, "only listed sizes: {payload} bytes");
    let large = over / (4096 - 100);
    assert_share("4 KiB payloads", large, requests, 0.25);
}

/// An echo/source mix, 1:1: the report's lines add up to every reply, each line's share is
/// a half within binomial tolerance, and nines-server's own byte counts give exactly the
/// report's count of each (an echo carries 64 bytes each way, a source asks for nothing and
/// gets 1 KiB).
#[test]
fn nines_server_answers_each_line_of_an_echo_source_mix_as_nines_reports_it() {
    let (srv, addr) = server(&["--workers", "1"], "");
    let (code, r) = bench(
        "echo-source",
        &[
            &addr.to_string(),
            "-c",
            "2",
            "-n",
            "2000",
            "--request",
            "1 echo 64",
            "--request",
            "1 name=src source 1k",
        ],
    );
    let (counts, weights) = mix_counts("echo-source", code, &r);
    assert_eq!(n(&r["requests"]), 2000);
    assert_shares("echo-source", &counts, &weights);
    let stopped = stop_srv(srv);
    let requests = counter(&stopped, "requests");
    assert_eq!(requests, 2000, "{stopped}");
    let echoes = (counter(&stopped, "bytes_in") - requests * HEADER) / 64;
    assert_eq!(echoes, counts["echo 64"], "{stopped}");
    let out = counter(&stopped, "bytes_out") - requests * HEADER - 64 * echoes;
    assert_eq!(out, 1024 * counts["src"], "{stopped}");
}

/// What a seeded run drew: each line's count, the bytes sent and the bytes received.
fn drawn(tag: &str, addr: &str, seed: &str) -> (Vec<u64>, u64, u64) {
    let (code, r) = bench(
        tag,
        &[
            addr,
            "-c",
            "1",
            "-n",
            "1000",
            "--seed",
            seed,
            "--request",
            "1 echo 1..4k",
            "--request",
            "1 name=src source 1..4k",
        ],
    );
    let (counts, _) = mix_counts(tag, code, &r);
    (
        counts.into_values().collect(),
        n(&r["transfer"]["sent_bytes"]),
        n(&r["transfer"]["received_bytes"]),
    )
}

/// On one connection of one thread, the same `--seed` and `-n` draw the same lines and sizes
/// (the same counts per line and the same bytes each way) and another seed other ones (the
/// bytes of 1,000 sizes drawn from 1..4k agree by chance far less than once in 10^4).
#[test]
fn the_same_seed_draws_the_same_requests() {
    let (_srv, addr) = server(&["--workers", "1"], "");
    let addr = addr.to_string();
    let first = drawn("seed-7", &addr, "7");
    assert_eq!(drawn("seed-7-again", &addr, "7"), first);
    assert_ne!(drawn("seed-8", &addr, "8"), first);
}

/// Runs `nines ARGS`, which must be refused as bad usage naming `flag`: exit 2, one line on
/// stderr naming it and saying `says`, nothing on stdout.
fn refused(args: &[&str], flag: &str, says: &str) {
    let out = nines(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(
        err.contains(flag) && err.contains(says),
        "{args:?} names {flag} and says {says:?}: {err}"
    );
    assert!(out.stdout.is_empty(), "{args:?}");
}

/// Each bad mix or size is refused before any connection (nothing listens on the targets:
/// a run would exit 1), in one line naming the flag: a weight of 0 or below (`-1` too, which
/// is the line's bad weight, not an unknown flag), a request file with no requests, a line
/// its protocol cannot read, MIN over MAX, an SLO clause about a line the run does not have
/// (a run of one request, even a one-line mix, has none; `nines storm` alike), and a flag
/// each line says for itself.
#[test]
fn bad_mixes_are_one_line_naming_the_flag_and_exit_2() {
    let port = free_port().to_string();
    let (http, redis, plain) = (
        format!("http://127.0.0.1:{port}/"),
        format!("redis://127.0.0.1:{port}"),
        format!("127.0.0.1:{port}"),
    );
    let empty = scratch("mix").join("empty-requests.txt");
    std::fs::write(&empty, "# nothing yet\n\n").unwrap();
    let empty = empty.to_str().unwrap();
    let b = |rest: &[&str], target: &str| -> Vec<String> {
        let mut v = vec!["bench".to_string(), target.to_string()];
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    };
    let cases: Vec<(Vec<String>, &str, &str)> = vec![
        (b(&["--request", "0 GET /"], &http), "--request", "weight 0"),
        (
            b(&["--request", "-1 GET /"], &http),
            "--request",
            "weight -1",
        ),
        (
            b(&["--request-file", empty], &http),
            "--request-file",
            "no requests",
        ),
        (b(&["--request", "1 "], &redis), "--request", "no request"),
        (
            b(&["--request", "1 SET \"open"], &redis),
            "--request",
            "unclosed",
        ),
        (b(&["--request", "1 fly"], &plain), "--request", "`fly`"),
        (b(&["--request", "1 fly"], &http), "--request", "`fly`"),
        (
            b(&["--request", "1 echo", "--payload", "4k..64"], &plain),
            "--payload",
            "MIN is larger than MAX",
        ),
        (
            b(
                &[
                    "--request",
                    "1 GET /a",
                    "--request",
                    "1 GET /b",
                    "--slo",
                    "p99[nope]<=5ms",
                ],
                &http,
            ),
            "--slo",
            "`nope`",
        ),
        (
            b(
                &["--request", "1 GET /a", "--slo", "p99[GET /a]<=5ms"],
                &http,
            ),
            "--slo",
            "[GET /a]",
        ),
        (
            b(&["--slo", "p99[nines echo 64 B]<=5ms"], &plain),
            "--slo",
            "one request",
        ),
        (
            vec![
                "storm".into(),
                plain.clone(),
                "--slo".into(),
                "p99[echo]<=5ms".into(),
            ],
            "--slo",
            "[echo]",
        ),
        (
            b(&["--request", "1 GET /", "--method", "POST"], &http),
            "--method",
            "each --request line says its own",
        ),
    ];
    for (args, flag, says) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&args, flag, says);
    }
}
