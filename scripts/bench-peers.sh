#!/usr/bin/env bash
# nines against the tools people use for each protocol, on the same servers, in one run.
# Writes docs/results/peers.md.
#
# Server pinned to CPU 0, load to CPU 1 (taskset); rounds interleave the tools so drift hits
# them alike; figures are medians over rounds, compared as ratios.
#   http-load:   nines vs wrk, against nginx (1 worker), closed loop, same connections, 1 thread
#   redis-load:  nines vs redis-benchmark, against redis-server, same clients and pipeline
#   http-server: nines-server --protocol http vs nginx (1 worker each) under the same wrk load
#                (and under nines' load)
#   ws-server:   nines-server --protocol ws vs python3-websockets' echo under nines' load
# Each row has the load process's CPU per request (user+sys, rusage) and the server's
# (/proc/PID/stat, every process of it); ratios are medians of per-round ratios.
#
# Usage: scripts/bench-peers.sh [ROUNDS=3] [SECONDS=5]   env: CONNS=64 OUT=docs/results/peers.md
# Needs wrk, nginx, redis-server, redis-benchmark and python3-websockets (apt-get installs them
# when run as root). Loopback only; every load is bounded by SECONDS (redis-benchmark by count).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECS=${2:-5}
CONNS=${CONNS:-64}
OUT=${OUT:-docs/results/peers.md}
source scripts/lib/bench.sh
need_pinning

need_programs wrk:wrk nginx:nginx-light "redis-benchmark:redis-server redis-tools"
/usr/bin/python3 -c 'import websockets' 2>/dev/null || install_missing python3-websockets

cargo build --release --quiet --bin nines --bin nines-server
BIN=${CARGO_TARGET_DIR:-target}/release
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; pkill -f "$TMP/nginx" 2>/dev/null || true; rm -rf "$TMP"' EXIT

row() { echo "$*" >>"$TMP/raw.csv"; }
echo "round,test,tool,rps,p99_us,load_cpu_us_per_req,server_cpu_us_per_req,errors" >"$TMP/raw.csv"

for round in $(seq "$ROUNDS"); do
  # --- http-load: nines vs wrk against one nginx -------------------------------------------
  port=$(free_port); start_nginx "$port"; pids=$(nginx_pids)
  for tool in nines wrk; do http_load "$round" http-load "$tool" "$tool" "http://127.0.0.1:$port/" "$pids"; done
  stop_nginx

  # --- http-server: nines-server http vs nginx under wrk ------------------------------------
  for server in nines-server nginx; do
    port=$(free_port)
    if [[ $server == nginx ]]; then
      start_nginx "$port"; pids=$(nginx_pids)
    else
      taskset -c 0 "$BIN/nines-server" --protocol http --port "$port" --workers 1 --acceptors 1 >/dev/null 2>&1 &
      SRV=$!; wait_port "$port"; pids=$SRV
    fi
    http_load "$round" http-server "$server" wrk "http://127.0.0.1:$port/" "$pids"
    # The same servers under nines' load, which leaves the server more of its CPU's share.
    http_load "$round" http-server-nines-load "$server" nines "http://127.0.0.1:$port/" "$pids"
    if [[ $server == nginx ]]; then stop_nginx; else kill "$SRV"; wait "$SRV" 2>/dev/null || true; fi
  done

  # --- redis-load: nines vs redis-benchmark, pipeline 1 and 16 ------------------------------
  port=$(free_port)
  taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
  RS=$!; wait_port "$port"
  for pipe in 1 16; do
    # Enough requests for about SECONDS at the rate redis-benchmark reaches here.
    n=$(( pipe == 1 ? 100000 * SECS : 600000 * SECS ))
    for tool in nines redis-benchmark; do
      c0=$(cpu_of "$RS")
      if [[ $tool == nines ]]; then
        load "$BIN/nines" bench "redis://127.0.0.1:$port" --command "SET key:__rand__ __data__" \
          --payload 64 --keyspace 1000000 -c 50 -p "$pipe" -t 1 -d "${SECS}s" -w 1s -q --json "$TMP/n.json"
        read -r rps p99 reqs errs < <(nines_json "$TMP/n.json")
      else
        load redis-benchmark -p "$port" -c 50 -P "$pipe" -n "$n" -t set -d 64 -r 1000000 --csv
        read -r rps p99 < <(python3 -c 'import csv,sys; r=list(csv.reader(open(sys.argv[1])))[1]; print(r[1], float(r[6])*1000)' "$TMP/load_cpu.out")
        reqs=$n errs=0
      fi
      c1=$(cpu_of "$RS")
      row "$round,redis-load-p$pipe,$tool,$rps,$p99,$(per_op "$c0" "$c1" "$reqs"),$errs"
    done
  done
  kill "$RS"; wait "$RS" 2>/dev/null || true

  # --- ws-server: nines-server ws vs python3-websockets echo, under nines ------------------
  for server in nines-server python-websockets; do
    port=$(free_port)
    if [[ $server == nines-server ]]; then
      taskset -c 0 "$BIN/nines-server" --protocol ws --port "$port" --workers 1 --acceptors 1 >/dev/null 2>&1 &
    else
      taskset -c 0 /usr/bin/python3 driver/tests/peers/ws_echo.py "$port" >/dev/null &
    fi
    SRV=$!; wait_port "$port"
    c0=$(cpu_of $SRV)
    load "$BIN/nines" bench "ws://127.0.0.1:$port/" -c "$CONNS" -t 1 -d "${SECS}s" -w 1s -q --json "$TMP/n.json"
    c1=$(cpu_of $SRV)
    read -r rps p99 reqs errs < <(nines_json "$TMP/n.json")
    row "$round,ws-server,$server,$rps,$p99,$(per_op "$c0" "$c1" "$reqs"),$errs"
    kill "$SRV"; wait "$SRV" 2>/dev/null || true
  done
  echo "round $round done" >&2
done

python3 - "$TMP/raw.csv" "$OUT" "$ROUNDS" "$SECS" "$CONNS" <<'PY'
import csv, statistics, sys
raw, out, rounds, secs, conns = sys.argv[1:]
rows = list(csv.DictReader(open(raw)))
sys.path.insert(0, "scripts/lib"); import results
def med(test, tool, key):
    v = [float(r[key]) for r in rows if r["test"] == test and r["tool"] == tool and r[key] not in ("", "nan")]
    return statistics.median(v) if v else float("nan")
L = results.header("nines against the tools made for each protocol",
                   f"scripts/bench-peers.sh {rounds} {secs} (CONNS={conns})")
L.append(f"- Layout: server pinned to CPU 0, load to CPU 1 (taskset); 1 server worker, 1 load thread; "
         f"{rounds} interleaved rounds of {secs} s per tool; medians over rounds, and ratios as the median "
         "of per-round ratios (both measured in the same round). CPU µs/request: the load generator's own "
         "(rusage) and the server's (/proc/PID/stat, all its processes), each over the requests answered.\n")
tests = [
    ("http-load", ["nines", "wrk"], f"Load generators against nginx (1 worker), closed loop, {conns} connections"),
    ("redis-load-p1", ["nines", "redis-benchmark"], "Load generators against redis-server, SET 64 B values, 50 clients, pipeline 1"),
    ("redis-load-p16", ["nines", "redis-benchmark"], "Load generators against redis-server, SET 64 B values, 50 clients, pipeline 16"),
    ("http-server", ["nines-server", "nginx"], f"HTTP servers (1 worker each) under the same wrk load, {conns} connections"),
    ("http-server-nines-load", ["nines-server", "nginx"], f"HTTP servers (1 worker each) under the same nines load, {conns} connections"),
    ("ws-server", ["nines-server", "python-websockets"], f"WebSocket echo servers under nines' load, {conns} connections, 64 B binary messages"),
]
def ratio(test, a, b, key):
    """Median over rounds of a/b measured in the same round: drift between rounds cancels."""
    per = []
    for rnd in sorted({r["round"] for r in rows}):
        x = [float(r[key]) for r in rows if r["round"] == rnd and r["test"] == test and r["tool"] == a]
        y = [float(r[key]) for r in rows if r["round"] == rnd and r["test"] == test and r["tool"] == b]
        if x and y and y[0]:
            per.append(x[0] / y[0])
    return (statistics.median(per), min(per), max(per)) if per else (float("nan"),) * 3
for test, tools, title in tests:
    L.append(f"## {title}\n")
    L.append(f"| tool | requests/s | p99 µs | load CPU µs/request | server CPU µs/request | errors | requests/s vs {tools[1]} (per-round median, range) |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for t in tools:
        r, p, lc, sc, e = (med(test, t, k) for k in ("rps", "p99_us", "load_cpu_us_per_req", "server_cpu_us_per_req", "errors"))
        m, lo, hi = ratio(test, t, tools[1], "rps")
        L.append(f"| {t} | {r:,.0f} | {p:.0f} | {lc:.2f} | {sc:.2f} | {e:.0f} | {m:.2f}x ({lo:.2f}–{hi:.2f}) |")
    L.append("")
L.append("## Raw rounds\n")
L.append("| round | test | tool | requests/s | p99 µs | load CPU µs/request | server CPU µs/request | errors |")
L.append("|---|---|---|---:|---:|---:|---:|---:|")
for r in rows:
    L.append(f"| {r['round']} | {r['test']} | {r['tool']} | {float(r['rps']):,.0f} | {float(r['p99_us']):.0f} | {float(r['load_cpu_us_per_req']):.2f} | {float(r['server_cpu_us_per_req']):.2f} | {r['errors']} |")
body = results.write(out, "\n".join(L) + "\n", "bench-peers.sh")
print(body)
PY
