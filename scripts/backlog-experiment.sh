#!/usr/bin/env bash
# Before/after for the listen backlog: a burst of CONNS connections against nines-server with
# --backlog 128, then 2048, ROUNDS times each. Prints a Markdown table of the kernel's
# ListenOverflows/ListenDrops during the burst and the time to establish every connection.
#
# Usage: scripts/backlog-experiment.sh [CONNS=10000] [ROUNDS=3]      (loopback only)
#   env: SERVER_ARGS="--model thread-per-connection" (a slow acceptor: one thread creation per
#        connection) — the pooled acceptor keeps up with one driver's burst on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${1:-10000}
ROUNDS=${2:-3}
cargo build --release --quiet --bin nines --bin nines-server --features nines-server/thread-per-connection
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
ulimit -n "$(ulimit -Hn)"
echo "| backlog | round | connections | ListenOverflows | ListenDrops | connect s | requests | errors |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for round in $(seq "$ROUNDS"); do
  for backlog in 128 2048; do
    # shellcheck disable=SC2086
    taskset -c 0 target/release/nines-server --port 0 --workers 1 --backlog "$backlog" ${SERVER_ARGS:-} >"$TMP/port" 2>/dev/null &
    SPID=$!
    for _ in $(seq 100); do [[ -s $TMP/port ]] && break; sleep 0.05; done
    PORT=$(head -1 "$TMP/port" | sed 's/.*://')
    taskset -c 1 target/release/nines bench "127.0.0.1:$PORT" --threads 1 -c "$CONNS" -n "$CONNS" -w 0s -q \
      --connect-timeout 30s --json "$TMP/r.json" >/dev/null || true
    kill "$SPID"; wait "$SPID" 2>/dev/null || true
    python3 - "$TMP/r.json" "$backlog" "$round" "$CONNS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); k = r["kernel"]; d = r["driver"]
print(f"| {sys.argv[2]} | {sys.argv[3]} | {d['connections_opened']:,} of {int(sys.argv[4]):,} | {k['listen_overflows']:,} | {k['listen_drops']:,} | {d['connect_s']:.2f} | {r['requests']:,} | {r['errors']} |")
PY
  done
done
