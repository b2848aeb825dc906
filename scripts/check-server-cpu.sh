#!/usr/bin/env bash
# Is the server CPU that a driver on "another machine" reports right? The driver runs in one
# network namespace and nines-server in another, so the driver cannot find the server in its
# /proc/net and takes the server's CPU from its Stats replies (`cpu_ns`, `thread_cpu_ns:*`).
# This script reads the same server's threads from the host's /proc around each run and sets the
# two side by side at several open-loop rates. Writes docs/results/server-cpu.md.
#
#   sudo scripts/check-server-cpu.sh [SECONDS=5] [RATES="20000 60000 120000"]
#   env: OUT=docs/results/server-cpu.md, SERVER=target/release/nines-server (another build, e.g.
#        the thread-per-connection one from scripts/bench-compare.sh)
#
# Server pinned to CPU 0 (1 worker), driver to CPU 1. Traffic stays inside the two namespaces
# this script creates (10.98.0.0/24 on a veth pair) and deletes.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
RATES=${2:-20000 60000 120000}
OUT=${OUT:-docs/results/server-cpu.md}
source scripts/lib/bench.sh
need_pinning
source scripts/lib/netns.sh
SRV=n9cpu-srv DRV=n9cpu-drv
cleanup() {
  [[ -n ${SPID:-} ]] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
  netns_del "$SRV" "$DRV"
  rm -rf "${TMP:-}"
}
trap cleanup EXIT
netns_pair "$SRV" "$DRV" 10.98.0.1 10.98.0.2 n9cpu
cargo build --release --quiet --bin nines --bin nines-server
TMP=$(mktemp -d)
SERVER=${SERVER:-target/release/nines-server}
ip netns exec "$SRV" taskset -c 0 "$SERVER" --bind 10.98.0.1 --port 0 --workers 1 \
  >"$TMP/port" 2>/dev/null &
SPID=$!
ADDR=$(listening_addr "$TMP/port")
[[ -n $ADDR ]] || { echo "check-server-cpu.sh: server did not start" >&2; exit 1; }

# utime+stime of the server process, in ticks, as the host sees it (threads that have exited
# included: the thread-per-connection server's end with their connections).
ticks() { awk '{print $14 + $15}' /proc/"$SPID"/stat; }
for rate in $RATES; do
  before=$(ticks); t0=$(date +%s.%N)
  ip netns exec "$DRV" taskset -c 1 target/release/nines bench "$ADDR" -d "${SECS}s" -w 0s -c 8 \
    --threads 1 --rate "$rate" -q --json "$TMP/$rate.json" >/dev/null
  after=$(ticks); t1=$(date +%s.%N)
  echo "$rate $before $after $t0 $t1" >>"$TMP/host"
  echo "rate $rate done" >&2
done
python3 - "$OUT" "$SECS" "$RATES" "$TMP" "$(getconf CLK_TCK)" <<'PY'
import json, sys
out, secs, rates, tmp, hz = sys.argv[1:]
sys.path.insert(0, "scripts/lib"); import results
L = results.header("A remote server's CPU, from its Stats replies, against /proc",
                   f"sudo scripts/check-server-cpu.sh {secs} \"{rates}\"")
L.append("- Layout: nines-server (1 worker, pinned to CPU 0) in one network namespace, the driver "
         "(1 thread, 8 connections, open loop, pinned to CPU 1) in another, joined by a veth pair. "
         "The driver cannot see the server's socket, so it reports the server's CPU from the "
         "server's own Stats replies; the host's /proc is read around each run for comparison "
         "(its window also holds the driver's start and exit, so it can only read a little lower).\n")
L.append("| rate (req/s) | achieved | Stats op: all threads | Stats op: busiest thread | host /proc: all threads | ratio |")
L.append("|---:|---:|---:|---:|---:|---:|")
for line in open(f"{tmp}/host"):
    rate, b, a, t0, t1 = line.split()
    host = 100 * (int(a) - int(b)) / float(hz) / (float(t1) - float(t0))
    r = json.load(open(f"{tmp}/{rate}.json"))
    c = r["server_cpu"]
    L.append(f"| {int(rate):,} | {r['throughput_rps']:,.0f} | {c['total_pct']:.1f}% | "
             f"{c['busiest_thread_pct']:.1f}% ({c['busiest_thread']}) | {host:.1f}% | "
             f"{c['total_pct'] / host:.2f} |")
results.write(out, "\n".join(L) + "\n", "check-server-cpu.sh")
print(open(out).read())
PY
