//! nines against servers it did not write — nginx, redis-server and a python3-websockets echo
//! server, each started on a free loopback port and stopped at the end — in closed and open
//! loop, pipelined, with the driver's counts checked against each server's own: nginx's access
//! log, Redis' `total_commands_processed`, the echo server's message count. And nines-server's
//! WebSocket echo against that library's client.

mod util;

use std::net::SocketAddr;
use std::process::Command;

use serde_json::Value;
use util::peers::{python, script, Nginx, Redis, WsEcho};
use util::scratch;

/// Runs `nines bench -t 1 -w 0s ARGS --json FILE`; the exit code and the report.
fn bench(tag: &str, args: &[&str]) -> (i32, Value) {
    util::bench_report("peers", tag, args)
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Checks a run answered everything it sent without error; returns the replies of `kind`.
fn all_answered(tag: &str, code: i32, r: &Value, kind: &str) -> u64 {
    assert_eq!(code, 0, "{tag}: exit code; report {r}");
    assert_eq!(n(&r["errors"]), 0, "{tag}: {}", r["errors_by_kind"]);
    let sent = n(&r["driver"]["requests_sent"]);
    let kinds = &r["driver"]["reply_kinds"];
    assert_eq!(
        n(&kinds[kind]),
        sent,
        "{tag}: every request answered {kind}: {kinds}"
    );
    sent
}

#[test]
fn nginx_serves_every_request_nines_counts_closed_and_open_loop_pipelined() {
    let nginx = Nginx::start(&scratch("nginx"));
    let url = format!("http://{}/", nginx.addr);
    let mut answered = 0;
    // Two connections x 1,500 requests: nginx closes each after 1,000 (keepalive_requests),
    // so the driver must reconnect and say so.
    let (code, r) = bench("closed", &[&url, "-c", "2", "-n", "3000"]);
    answered += all_answered("closed", code, &r, "200");
    assert!(n(&r["driver"]["reconnects"]) >= 2, "{}", r["driver"]);
    let (code, r) = bench("pipelined", &[&url, "-c", "4", "-p", "8", "-n", "4000"]);
    answered += all_answered("pipelined", code, &r, "200");
    // Open loop over pipelined HTTP/1.1: requests leave when due while others are out.
    let (code, r) = bench(
        "open",
        &[&url, "-c", "2", "-p", "4", "-R", "3000", "-d", "1s"],
    );
    answered += all_answered("open", code, &r, "200");
    assert_eq!(r["load"]["model"], "open_loop");
    assert!(n(&r["requests"]) >= 2_900, "{}", r["requests"]);
    let log = nginx.stop_and_count();
    assert_eq!(
        log.get("200").copied(),
        Some(answered),
        "nginx's access log: {log:?}"
    );
}

#[test]
fn statuses_outside_2xx_are_rejected_unless_accepted() {
    let nginx = Nginx::start(&scratch("nginx-404"));
    let url = format!("http://{}/missing", nginx.addr);
    let (code, r) = bench(
        "404",
        &[&url, "-c", "2", "-n", "300", "--max-errors", "1000"],
    );
    assert_ne!(code, 0, "no measured replies is not a success");
    assert_eq!(n(&r["errors_by_kind"]["rejected"]), 300, "{r}");
    assert_eq!(n(&r["driver"]["reply_kinds"]["404"]), 300);
    let (code, r) = bench(
        "accepted",
        &[&url, "-c", "2", "-n", "300", "--accept", "404"],
    );
    assert_eq!(all_answered("accepted", code, &r, "404"), 300);
    assert_eq!(n(&r["requests"]), 300);
    assert_eq!(nginx.stop_and_count().get("404").copied(), Some(600));
}

#[test]
fn redis_processes_every_command_nines_sends_and_error_replies_are_named() {
    let redis = Redis::start();
    let url = format!("redis://{}", redis.addr);
    let before = redis.commands_processed();
    let (code, r) = bench(
        "set",
        &[
            &url,
            "--command",
            "SET key:__rand__ __data__",
            "-c",
            "4",
            "-p",
            "16",
            "-n",
            "5000",
        ],
    );
    let set = all_answered("set", code, &r, "status");
    let (code, r) = bench(
        "get-open",
        &[
            &url,
            "--command",
            "GET key:__rand__",
            "--keyspace",
            "100",
            "-c",
            "2",
            "-p",
            "4",
            "-R",
            "2000",
            "-d",
            "1s",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(n(&r["errors"]), 0);
    let kinds = &r["driver"]["reply_kinds"];
    let get = n(&r["driver"]["requests_sent"]);
    assert_eq!(n(&kinds["bulk"]) + n(&kinds["nil"]), get, "{kinds}");
    // INFO counts the INFO before it, not itself.
    assert_eq!(redis.commands_processed() - before - 1, set + get);
    redis.command(&["SET", "plain", "x"]);
    let (code, r) = bench(
        "wrongtype",
        &[
            &url,
            "--command",
            "LPUSH plain x",
            "-c",
            "1",
            "-n",
            "50",
            "--max-errors",
            "1000",
        ],
    );
    assert_ne!(code, 0);
    assert_eq!(n(&r["errors_by_kind"]["rejected"]), 50, "{r}");
    assert_eq!(n(&r["driver"]["reply_kinds"]["error WRONGTYPE"]), 50);
}

#[test]
fn a_real_websocket_echo_server_echoes_every_message_nines_sends() {
    let echo = WsEcho::start();
    let url = format!("ws://{}/", echo.addr);
    let (code, r) = bench(
        "ws-binary",
        &[&url, "-c", "4", "-n", "2000", "--payload", "300"],
    );
    let mut sent = all_answered_ws("ws-binary", code, &r);
    let (code, r) = bench(
        "ws-text-open",
        &[
            &url,
            "-c",
            "2",
            "-p",
            "4",
            "-R",
            "2000",
            "-d",
            "1s",
            "--message",
            "text",
        ],
    );
    sent += all_answered_ws("ws-text-open", code, &r);
    assert_eq!(echo.stop_and_count(), sent, "the server's own count");
}

fn all_answered_ws(tag: &str, code: i32, r: &Value) -> u64 {
    assert_eq!(code, 0, "{tag}: {r}");
    assert_eq!(n(&r["errors"]), 0, "{tag}: {}", r["errors_by_kind"]);
    assert!(n(&r["requests"]) > 0);
    n(&r["driver"]["requests_sent"])
}

#[test]
fn nines_server_ws_talks_to_a_client_it_did_not_write() {
    let server = nines_server::Server::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        nines_server::ServerConfig {
            protocol: nines_server::Protocol::Ws,
            workers: 1,
            ..Default::default()
        },
        &nines_server::listener::ListenOptions::default(),
    )
    .unwrap();
    let url = format!("ws://{}/chat", server.local_addr());
    let out = Command::new(python())
        .arg(script("ws_client.py"))
        .args([&url, "200"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok 401",
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
