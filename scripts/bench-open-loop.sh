#!/usr/bin/env bash
# Open-loop driver accuracy: can one driver thread keep a 50,000 req/s schedule on time?
# Writes docs/results/open-loop.md.
#
# nines-server (1 worker) pinned to CPU 0, `nines bench --rate` (1 thread) pinned to CPU 1, over
# loopback. Reports the driver's schedule lag (actual send minus due time) and the achieved rate,
# for constant and Poisson arrivals, ROUNDS times each.
#
# Usage: scripts/bench-open-loop.sh [RATE=50000] [SECONDS=10] [ROUNDS=3]   env: CONNS=64 OUT=...
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-50000}
SECS=${2:-10}
ROUNDS=${3:-3}
CONNS=${CONNS:-64}
OUT=${OUT:-docs/results/open-loop.md}
(( $(nproc) >= 2 )) || { echo "needs 2 CPUs to pin server and load apart" >&2; exit 1; }
cargo build --release --quiet --bin nines --bin nines-server
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
taskset -c 0 target/release/nines-server --port 0 --workers 1 >"$TMP/port" 2>/dev/null &
for _ in $(seq 100); do [[ -s $TMP/port ]] && break; sleep 0.05; done
PORT=$(head -1 "$TMP/port" | sed 's/.*://')
CMD_BASE="nines bench 127.0.0.1:PORT --rate $RATE --threads 1 -c $CONNS -d ${SECS}s -w 2s"
for round in $(seq "$ROUNDS"); do
  for arrival in constant poisson; do
    taskset -c 1 target/release/nines bench "127.0.0.1:$PORT" --rate "$RATE" --arrival "$arrival" \
      --threads 1 -c "$CONNS" -d "${SECS}s" -w 2s -q --json "$TMP/$arrival-$round.json" >/dev/null || true
    echo "round $round $arrival done" >&2
  done
done
python3 - "$TMP" "$OUT" "$RATE" "$SECS" "$ROUNDS" "$CONNS" "$CMD_BASE" <<'PY'
import glob, json, os, platform, subprocess, sys, datetime
tmp, out, rate, secs, rounds, conns, cmd = sys.argv[1:]
sys.path.insert(0, "scripts/lib"); import results
L = ["# Open-loop driver accuracy\n",
     f"- Date: {datetime.date.today().isoformat()}",
     f"- Machine: {results.machine()}",
     f"- Command: `scripts/bench-open-loop.sh {rate} {secs} {rounds}` (CONNS={conns}), which runs "
     f"`{cmd} --arrival constant|poisson` pinned to CPU 1 against `nines-server --workers 1` pinned to CPU 0.",
     "- Target: the driver's schedule lag p99 (actual send minus due time) under 50 µs at 50,000 req/s "
     "on one driver thread over loopback.\n",
     "| round | arrival | requested req/s | achieved req/s | lag p50 µs | lag p99 µs | lag p99.9 µs | lag max µs | corrected p99 µs | uncorrected p99 µs | driver busy % | warnings |",
     "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
for f in sorted(glob.glob(os.path.join(tmp, "*.json")), key=lambda p: (p.split("-")[-1], p)):
    r = json.load(open(f))
    o = r["load"]; lag = o["schedule_lag_us"]
    name = os.path.basename(f)[:-5]
    arrival, rnd = name.rsplit("-", 1)
    L.append(f"| {rnd} | {arrival} | {o['requested_rps']:,.0f} | {o['achieved_rps']:,.0f} | {lag['p50']:.1f} | {lag['p99']:.1f} | "
             f"{lag['p99_9']:.1f} | {lag['max']:.1f} | {r['latency_us']['p99']:.1f} | {r['latency_uncorrected_us']['p99']:.1f} | "
             f"{r['driver']['thread_busy_pct'][0]:.0f} | {len(r['warnings'])} |")
body = "\n".join(L) + "\n"
# Hand-written notes below the marker survive a rerun (re-read them against the new figures).
body = results.write(out, body, "bench-open-loop.sh")
print(body)
PY
