#!/usr/bin/env bash
# Core speed benchmark: is nines-server as fast as the floor, and the nines driver as fast as a
# hand-written C client? Writes docs/results/core.md.
#
# Server on CPU 0, load on CPU 1 (taskset). Each round runs every server under the same two
# loads, in turn; rounds are interleaved so drift hits all servers alike, and medians are
# compared as ratios measured in the same run.
#
#   (a) servers: nines-server --protocol echo --workers 1, the floor (mio example floor_echo),
#       and a hand-written C epoll echo server, each loaded by `nines bench --protocol echo`
#       (throughput and p99) and by the C client (throughput);
#   (b) clients: against the same server, `nines bench --protocol echo` vs the C epoll client,
#       same connections and message size.
#
# Usage: scripts/bench-core.sh [ROUNDS=3] [SECONDS=5]   env: CONNS=64 SIZE=64 OUT=docs/results/core.md
# Loopback only; every load is bounded by SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECS=${2:-5}
CONNS=${CONNS:-64}
SIZE=${SIZE:-64}
OUT=${OUT:-docs/results/core.md}
source scripts/lib/bench.sh
need_pinning
command -v gcc >/dev/null || { echo "gcc not found (apt-get install gcc)" >&2; exit 1; }

cargo build --release --quiet --bin nines --bin nines-server --example floor_echo
BIN=target/release
CDIR=target/bench-c
mkdir -p "$CDIR"
gcc -O2 -o "$CDIR/epoll_echo_server" scripts/bench/epoll_echo_server.c
gcc -O2 -o "$CDIR/epoll_echo_client" scripts/bench/epoll_echo_client.c
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

declare -A SERVER_CMD=(
  [nines-server]="$BIN/nines-server --port 0 --protocol echo --workers 1 --acceptors 1"
  [floor-mio]="$BIN/examples/floor_echo 0"
  [c-epoll]="$CDIR/epoll_echo_server 0"
)
SERVERS=(nines-server floor-mio c-epoll)

# Starts a server pinned to CPU 0; sets SPID and PORT.
start_server() {
  taskset -c 0 ${SERVER_CMD[$1]} >"$TMP/port" 2>/dev/null &
  SPID=$!
  for _ in $(seq 100); do
    [[ -s $TMP/port ]] && break
    sleep 0.05
  done
  PORT=$(head -1 "$TMP/port" | sed 's/.*://')
  [[ -n $PORT ]] || { echo "server $1 did not start" >&2; exit 1; }
}

# Total CPU seconds (user+sys) of process $1 and its threads.
cpu_s() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }

echo "round,server,client,rps,p99_us,server_cpu_pct,server_cpu_us_per_req" >"$TMP/raw.csv"
for round in $(seq "$ROUNDS"); do
  for s in "${SERVERS[@]}"; do
    start_server "$s"
    c0=$(cpu_s "$SPID")
    taskset -c 1 "$BIN/nines" bench "127.0.0.1:$PORT" --protocol echo -c "$CONNS" --threads 1 \
      --payload "$SIZE" -d "${SECS}s" -w 1s -q --json "$TMP/n.json" >/dev/null
    c1=$(cpu_s "$SPID")
    read -r rps p99 < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["throughput_rps"], r["latency_us"]["p99"])' "$TMP/n.json")
        reqs=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["requests"] + r["warmup"]["requests"])' "$TMP/n.json")
    echo "$round,$s,nines,$rps,$p99,$(echo "($c1-$c0)*100/($SECS+1)" | bc -l),$(echo "($c1-$c0)*1000000/$reqs" | bc -l)" >>"$TMP/raw.csv"
    c0=$(cpu_s "$SPID")
    read -r creqs crps < <(taskset -c 1 "$CDIR/epoll_echo_client" 127.0.0.1 "$PORT" "$CONNS" "$SIZE" "$SECS" | awk '{print $2, $6}')
    c1=$(cpu_s "$SPID")
    echo "$round,$s,c-client,$crps,,$(echo "($c1-$c0)*100/$SECS" | bc -l),$(echo "($c1-$c0)*1000000/$creqs" | bc -l)" >>"$TMP/raw.csv"
    kill "$SPID"; wait "$SPID" 2>/dev/null || true
    echo "round $round $s done" >&2
  done
done

python3 - "$TMP/raw.csv" "$OUT" "$ROUNDS" "$SECS" "$CONNS" "$SIZE" <<'PY'
import csv, os, platform, statistics, subprocess, sys, datetime
raw, out, rounds, secs, conns, size = sys.argv[1:]
rows = list(csv.DictReader(open(raw)))
def med(server, client, key):
    v = [float(r[key]) for r in rows if r["server"] == server and r["client"] == client and r[key]]
    return statistics.median(v) if v else float("nan")
servers = ["nines-server", "floor-mio", "c-epoll"]
sys.path.insert(0, "scripts/lib"); import results
L = []
L.append("# Core speed: nines-server vs the floor, nines driver vs a C client\n")
L.append(f"- Date: {datetime.date.today().isoformat()}")
L.append(f"- Machine: {results.machine()}")
L.append(f"- Command: `scripts/bench-core.sh {rounds} {secs}` (CONNS={conns} SIZE={size})")
L.append(f"- Layout: server pinned to CPU 0, load pinned to CPU 1 (taskset); {conns} connections, "
         f"{size}-byte messages, closed loop, 1 server worker, 1 load thread; {rounds} interleaved rounds "
         f"of {secs} s per server and load; figures are medians over rounds.\n")
L.append("## (a) Servers under the same load\n")
L.append("| server | rps (nines load) | p99 µs (nines load) | rps (C client load) | server CPU % | server CPU µs/request (nines / C load) | rps vs floor (nines / C load) | p99 vs floor |")
L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
fr, fp, fc = med("floor-mio", "nines", "rps"), med("floor-mio", "nines", "p99_us"), med("floor-mio", "c-client", "rps")
for s in servers:
    r, p, c = med(s, "nines", "rps"), med(s, "nines", "p99_us"), med(s, "c-client", "rps")
    cn, cc = med(s, "nines", "server_cpu_us_per_req"), med(s, "c-client", "server_cpu_us_per_req")
    L.append(f"| {s} | {r:,.0f} | {p:.1f} | {c:,.0f} | {med(s, 'nines', 'server_cpu_pct'):.0f} | {cn:.2f} / {cc:.2f} | {r/fr:.3f} / {c/fc:.3f} | {p/fp:.3f} |")
L.append("\n## (b) Clients against the same server\n")
L.append("| server | nines driver rps | C epoll client rps | nines / C |")
L.append("|---|---:|---:|---:|")
for s in servers:
    r, c = med(s, "nines", "rps"), med(s, "c-client", "rps")
    L.append(f"| {s} | {r:,.0f} | {c:,.0f} | {r/c:.3f} |")
L.append("\n## Raw rounds\n")
L.append("| round | server | load | rps | p99 µs | server CPU % | server CPU µs/request |")
L.append("|---|---|---|---:|---:|---:|---:|")
for r in rows:
    p = f"{float(r['p99_us']):.1f}" if r["p99_us"] else ""
    L.append(f"| {r['round']} | {r['server']} | {r['client']} | {float(r['rps']):,.0f} | {p} | {float(r['server_cpu_pct']):.0f} | {float(r['server_cpu_us_per_req']):.2f} |")
body = "\n".join(L) + "\n"
# Hand-written notes below the marker survive a rerun (re-read them against the new figures).
body = results.write(out, body, "bench-core.sh")
print(body)
PY
