#!/usr/bin/env bash
# `nines compare --repeat N` for real: the pooled and the thread-per-connection server under the
# same closed-loop load, N interleaved runs each, and which differences are beyond run-to-run
# noise. Writes docs/results/compare-models.md (docs/tuning.md shows it).
#
# Server pinned to CPU 0 (1 worker), load to CPU 1 (1 driver thread, 64 connections).
# Usage: scripts/bench-compare.sh [RUNS=5] [SECONDS=3]   env: OUT=docs/results/compare-models.md
# Loopback only; every run is bounded by SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
SECS=${2:-3}
OUT=${OUT:-docs/results/compare-models.md}
source scripts/lib/bench.sh
need_pinning
mkdir -p target/models
cargo build --release --quiet -p nines-server
cp target/release/nines-server target/models/nines-server-pooled
cargo build --release --quiet -p nines-server --no-default-features --features thread-per-connection
cp target/release/nines-server target/models/nines-server-threaded
cargo build --release --quiet -p nines-server   # leave the default build in place
cargo build --release --quiet --bin nines
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

for i in $(seq "$RUNS"); do
  for model in pooled threaded; do
    taskset -c 0 "target/models/nines-server-$model" --port 0 --workers 1 >"$TMP/port" 2>/dev/null &
    SPID=$!
    addr=$(listening_addr "$TMP/port")
    taskset -c 1 target/release/nines bench "$addr" -c 64 -t 1 -d "${SECS}s" -w 1s -q \
      --json "$TMP/$model-$i.json" >/dev/null
    kill "$SPID"; wait "$SPID" 2>/dev/null || true; : >"$TMP/port"
  done
  echo "round $i done" >&2
done
files=()
for model in pooled threaded; do for i in $(seq "$RUNS"); do files+=("$TMP/$model-$i.json"); done; done
table=$(target/release/nines compare --repeat "$RUNS" --markdown "${files[@]}")
python3 - "$OUT" "$RUNS" "$SECS" "$table" <<'PY'
import sys
out, runs, secs, table = sys.argv[1:]
sys.path.insert(0, "scripts/lib"); import results
L = results.header("Pooled vs thread-per-connection, compared with nines compare --repeat",
                   f"scripts/bench-compare.sh {runs} {secs}")
L.append(f"- Layout: server pinned to CPU 0 (1 worker), load pinned to CPU 1 (1 driver thread, 64 connections, "
         f"closed loop, 64-byte nines echo); {runs} interleaved runs of {secs} s (after 1 s warm-up) per model; "
         "the table is `nines compare --repeat` over those runs (group names are the first run's file).\n")
L.append(table.replace("pooled-1", "pooled").replace("threaded-1", "threaded"))
results.write(out, "\n".join(L) + "\n", "bench-compare.sh")
print(open(out).read())
PY
