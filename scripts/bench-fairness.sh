#!/usr/bin/env bash
# Fairness: a light client's latency alone and beside a client that pipelines Work requests,
# on this tree's nines-server and on another revision's (REV_A, default the last one without
# per-turn bounds), in one run. Writes docs/results/fairness.md.
#
# Server (--workers 1, so every connection shares one event loop) pinned to CPU 0; both
# clients pinned to CPU 1. The light client is open loop (--rate LIGHT_RATE on 2 connections
# with up to 8 requests in flight each, 64-byte nines echo, latency corrected for coordinated
# omission). With one request in flight per connection it could get at most 2 replies per
# event-loop cycle, and a cycle that includes a 50 ms Work request would cap it at 40 req/s:
# its backlog, not the server's fairness, would set its latency. The heavy client runs
# closed loop with --pipeline 40 (its connections always have 40 Work requests queued), in two
# shapes: 4 connections of 1 ms requests, and 1 connection of 50 ms requests (the case of the
# issue, and of server/tests/hostile.rs).
#
# Usage: scripts/bench-fairness.sh [REV_A=78a0414] [ROUNDS=3] [SECONDS=5]
#        env: LIGHT_RATE=200 OUT=docs/results/fairness.md
# Loopback only; every load is bounded by SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
REV_A=${1:-78a0414}
ROUNDS=${2:-3}
SECS=${3:-5}
LIGHT_RATE=${LIGHT_RATE:-200}
OUT=${OUT:-docs/results/fairness.md}
source scripts/lib/bench.sh
need_pinning

ab_worktree "$REV_A"
echo "building A ($A_SHA) and B ($B_SHA)" >&2
(cd "$WT" && cargo build --release --quiet --bin nines-server)
cargo build --release --quiet --bin nines --bin nines-server
declare -A SERVER=([A]="$WT/target/release/nines-server" [B]="target/release/nines-server")
NINES=target/release/nines
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

# The heavy shapes: name -> "connections work_us".
declare -A HEAVY=([none]="" [4x1ms]="4 1000" [1x50ms]="1 50000")
echo "round,server,heavy,light_requests,light_errors,p50_us,p99_us,p99_9_us,max_us,heavy_rps" >"$TMP/raw.csv"
for round in $(seq "$ROUNDS"); do
  order=(A B); (( round % 2 == 0 )) && order=(B A)
  for s in "${order[@]}"; do
    for heavy in none 4x1ms 1x50ms; do
      taskset -c 0 "${SERVER[$s]}" --port 0 --workers 1 >"$TMP/port" 2>/dev/null &
      spid=$!
      for _ in $(seq 100); do [[ -s $TMP/port ]] && break; sleep 0.05; done
      addr=127.0.0.1:$(head -1 "$TMP/port" | sed 's/.*://')
      rm -f "$TMP/heavy.json"
      if [[ -n ${HEAVY[$heavy]} ]]; then
        read -r hc hw <<<"${HEAVY[$heavy]}"
        taskset -c 1 "$NINES" bench "$addr" --op work --work-us "$hw" -c "$hc" --pipeline 40 --threads 1 \
          -d "$((SECS + 2))s" -w 0s -q --json "$TMP/heavy.json" >/dev/null 2>&1 &
        hpid=$!
        sleep 1
      fi
      taskset -c 1 "$NINES" bench "$addr" --rate "$LIGHT_RATE" -c 2 --pipeline 8 --threads 1 -d "${SECS}s" -w 0s -q \
        --json "$TMP/light.json" >/dev/null 2>&1 || true
      [[ -n ${HEAVY[$heavy]} ]] && { wait "$hpid" 2>/dev/null || true; }
      kill "$spid"; wait "$spid" 2>/dev/null || true
      python3 - "$TMP/light.json" "$TMP/heavy.json" "$round" "$s" "$heavy" >>"$TMP/raw.csv" <<'PY'
import json, os, sys
light, heavy, rnd, s, h = sys.argv[1:]
r = json.load(open(light)); l = r["latency_us"] or {}
hr = json.load(open(heavy))["throughput_rps"] if os.path.exists(heavy) else ""
print(f"{rnd},{s},{h},{r['requests']},{r['errors']},{l.get('p50', '')},{l.get('p99', '')},{l.get('p99_9', '')},{l.get('max', '')},{hr}")
PY
      echo "round $round server $s heavy $heavy done" >&2
    done
  done
done

python3 - "$TMP/raw.csv" "$OUT" "$REV_A" "$A_SHA" "$B_SHA" "$ROUNDS" "$SECS" "$LIGHT_RATE" <<'PY'
import csv, statistics, sys
sys.path.insert(0, "scripts/lib"); import results
raw, out, rev_a, a_sha, b_sha, rounds, secs, rate = sys.argv[1:]
rows = list(csv.DictReader(open(raw)))
def med(s, h, key):
    v = [float(r[key]) for r in rows if r["server"] == s and r["heavy"] == h and r[key] != ""]
    return statistics.median(v) if v else float("nan")
def ms(us):
    return f"{us / 1000:,.2f}"
shapes = {"none": "alone", "4x1ms": "beside 4 connections × 40 pipelined 1 ms Work", "1x50ms": "beside 1 connection × 40 pipelined 50 ms Work"}
L = results.header("Fairness: a light client beside pipelined Work",
                   f"LIGHT_RATE={rate} scripts/bench-fairness.sh {rev_a} {rounds} {secs}")
L += [f"- A = `{a_sha}` ({rev_a}: no per-turn bounds), B = `{b_sha}` (this tree: a connection gets at most "
      "128 requests or 1 ms of Work per event-loop turn, then the others get theirs).",
      f"- `nines-server --workers 1` pinned to CPU 0. Light client: `nines bench --rate {rate} -c 2 --pipeline 8` (open loop, "
      "64-byte echo, corrected for coordinated omission), pinned to CPU 1, measured for "
      f"{secs} s; the heavy client (closed loop, --pipeline 40) starts 1 s before it. Medians of {rounds} interleaved rounds.\n",
      "| light client | server | p50 ms | p99 ms | p99.9 ms | max ms | light errors | heavy req/s |",
      "|---|---|---:|---:|---:|---:|---:|---:|"]
for h in ["none", "4x1ms", "1x50ms"]:
    for s, name in [("A", f"A `{a_sha}`"), ("B", f"B `{b_sha}`")]:
        hr = med(s, h, "heavy_rps")
        L.append(f"| {shapes[h]} | {name} | {ms(med(s, h, 'p50_us'))} | {ms(med(s, h, 'p99_us'))} | {ms(med(s, h, 'p99_9_us'))} | "
                 f"{ms(med(s, h, 'max_us'))} | {med(s, h, 'light_errors'):.0f} | {'' if hr != hr else f'{hr:,.0f}'} |")
L += ["\n## Raw rounds\n", "| round | server | heavy | light requests | errors | p50 µs | p99 µs | p99.9 µs | max µs | heavy req/s |",
      "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
for r in rows:
    L.append("| " + " | ".join(r[k] for k in ["round", "server", "heavy", "light_requests", "light_errors", "p50_us", "p99_us", "p99_9_us", "max_us", "heavy_rps"]) + " |")
print(results.write(out, "\n".join(L) + "\n", "bench-fairness.sh"))
PY
