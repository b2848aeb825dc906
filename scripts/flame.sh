#!/usr/bin/env bash
# A flame graph of nines-server under load, made by hand with perf + inferno (until the driver's
# own `nines bench --flame FILE.svg` samples the target over exactly its measured window).
# Server on CPU 0 (--workers 1), load on CPU 1 (1 thread, closed loop); perf samples the
# server's process for SECONDS in the middle of a run that lasts SECONDS + 4 s (1 s warm-up).
# Writes the SVG (and with FOLDED=FILE the folded stacks: the graph's numbers, for diffs); prints
# the shares of the frames docs/results/flame.md reads, and what perf itself cost.
#
# Usage: scripts/flame.sh [PROTO=echo] [SECONDS=5]
#        PROTO: echo | http | nines | ws (the server's --protocol; the driver speaks the same)
#        env: CALLGRAPH=dwarf|fp FREQ=499 CONNS=64 SERVER=target/release/nines-server
#             DRIVER=target/release/nines OUT=docs/img/flame-$PROTO.svg FOLDED= TITLE=...
# Needs perf (root, or kernel.perf_event_paranoid <= 1) and inferno (`cargo install inferno`);
# builds nothing: run `cargo build --release --bin nines --bin nines-server` first (the release
# profile keeps symbols). Loopback only; the load is bounded by its duration.
set -euo pipefail
cd "$(dirname "$0")/.."
PROTO=${1:-echo}
SECS=${2:-5}
CALLGRAPH=${CALLGRAPH:-dwarf}
FREQ=${FREQ:-499}
CONNS=${CONNS:-64}
SERVER=${SERVER:-target/release/nines-server}
DRIVER=${DRIVER:-target/release/nines}
OUT=${OUT:-docs/img/flame-$PROTO.svg}
source scripts/lib/bench.sh
need_pinning
for p in perf inferno-collapse-perf inferno-flamegraph; do
  command -v "$p" >/dev/null || { echo "$p not found (perf: apt-get install linux-perf; inferno: cargo install inferno)" >&2; exit 1; }
done
[[ -x $SERVER && -x $DRIVER ]] || { echo "build first: cargo build --release --bin nines --bin nines-server" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

taskset -c 0 "$SERVER" --port 0 --protocol "$PROTO" --workers 1 >"$TMP/server" 2>/dev/null &
SPID=$!
ADDR=$(listening_addr "$TMP/server")
[[ -n $ADDR ]] || { echo "flame.sh: the server did not start" >&2; exit 1; }
case $PROTO in
  http) TARGET=(http://"$ADDR"/) ;;
  ws) TARGET=(ws://"$ADDR"/) ;;
  *) TARGET=("$ADDR" --protocol "$PROTO") ;;
esac
taskset -c 1 "$DRIVER" bench "${TARGET[@]}" -c "$CONNS" -t 1 -d "$((SECS + 3))s" -w 1s -q \
  --json "$TMP/run.json" >/dev/null &
LOAD=$!
sleep 2
s0=$(cpu_of "$SPID")
# perf's own CPU (user + system, its children: the one `perf record`) from time(1).
/usr/bin/time -f "%U %S" -o "$TMP/perf-cpu" \
  perf record -q -F "$FREQ" --call-graph "$CALLGRAPH" -p "$SPID" -o "$TMP/perf.data" -- sleep "$SECS"
s1=$(cpu_of "$SPID")
wait "$LOAD"
kill -INT "$SPID"; wait "$SPID" || true

mkdir -p "$(dirname "$OUT")"
FOLDED=${FOLDED:-$TMP/stacks.folded}
/usr/bin/time -f "%U %S" -o "$TMP/script-cpu" perf script -i "$TMP/perf.data" 2>/dev/null >"$TMP/perf.txt"
# perf's cpu-clock counts nanoseconds (1e9 / FREQ a sample): count samples instead, so the
# graph's tooltips say how many samples a frame has.
inferno-collapse-perf --all <"$TMP/perf.txt" | python3 -c '
import sys
rows = [l.rstrip("\n").rsplit(" ", 1) for l in sys.stdin if l.strip()]
period = min(int(n) for _, n in rows)
sys.stdout.writelines(f"{s} {round(int(n) / period)}\n" for s, n in rows)' >"$FOLDED"
TITLE=${TITLE:-"nines-server --protocol $PROTO, $CONNS connections (perf -F $FREQ --call-graph $CALLGRAPH, ${SECS} s)"}
inferno-flamegraph --title "$TITLE" --width 1400 --minwidth 1 <"$FOLDED" >"$OUT"
rps=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["throughput_rps"]))' "$TMP/run.json")
sum() { awk '{print $1 + $2}' "$1"; }
echo "$OUT: $rps req/s; server CPU $(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.2f", b - a }') s while perf ran;" \
  "perf record $(sum "$TMP/perf-cpu") s CPU, $(du -k "$TMP/perf.data" | cut -f1) KiB;" \
  "perf script $(sum "$TMP/script-cpu") s CPU afterwards"
python3 scripts/lib/flame_shares.py "$FOLDED"
