#!/usr/bin/env bash
# The README's plots, from real runs on this machine against nines-server (1 worker): an
# open-loop run at 100k req/s (latency spectrum, timeline), a sweep (throughput-latency curve
# with the knee) and a 5,000-connection storm (connections and echo p99). Copies one of each to docs/img
# and, when rsvg-convert is installed (apt-get install librsvg2-bin), renders each to PNG under
# target/plots so a person can look at them (the runs' results are kept there too).
#
#   scripts/plots.sh            env: OUT=docs/img
#
# Server pinned to CPU 0 and load to CPU 1; loopback only; every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-docs/img}
source scripts/lib/bench.sh
need_pinning
cargo build --release --quiet --bin nines --bin nines-server
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
N=target/release/nines

taskset -c 0 target/release/nines-server --port 0 --workers 1 >"$TMP/port" 2>/dev/null &
addr=$(listening_addr "$TMP/port")
echo "open-loop run, 100k req/s, 10 s" >&2
taskset -c 1 $N bench "$addr" --rate 100000 -c 16 -d 10s -q --report "$TMP/bench" >/dev/null
echo "sweep" >&2
taskset -c 1 $N sweep "$addr" --connections 1,8,64 --rates 25%,50%,75%,90%,110% -q \
  --report "$TMP/sweep" >/dev/null
echo "storm, 5,000 connections" >&2
taskset -c 1 $N storm "$addr" -c 5000 --connect-rate 1250 -d 5s -q --report "$TMP/storm" >/dev/null

mkdir -p "$OUT" target/plots
cp "$TMP/bench/latency-spectrum.svg" "$TMP/bench/timeline.svg" "$OUT/"
cp "$TMP/sweep/throughput-latency.svg" "$OUT/sweep.svg"
cp "$TMP/storm/storm.svg" "$OUT/storm.svg"
# The results they were drawn from, to redraw without rerunning: nines report R.json --out DIR
for run in bench sweep storm; do cp "$TMP/$run/result.json" "target/plots/$run.json"; done
for f in latency-spectrum timeline sweep storm; do
  if command -v rsvg-convert >/dev/null; then
    rsvg-convert -w 900 "$OUT/$f.svg" -o "target/plots/$f.png"
    echo "target/plots/$f.png" >&2
  fi
done
echo "plots in $OUT" >&2
