#!/usr/bin/env bash
# Server models compared under the same load: pooled (acceptor + worker), pooled with the worker
# accepting for itself (--acceptors 0), and thread-per-connection, at 1, 64, 1,000 and 10,000
# connections, closed loop and open loop. Writes docs/results/models.md.
#
# Each variant is built on its own (`cargo build --release --features ...`). Server pinned to
# CPU 0 with one worker, load pinned to CPU 1 with one driver thread. Server RSS, threads and
# context switches come from /proc/PID/status (summed over the server's threads), sampled while
# the load runs.
#
# Usage: scripts/compare-models.sh [SECONDS=5] [RATE=10000]   env: CONNS="1 64 1000 10000" OUT=...
# Loopback only; every run is bounded by SECONDS. 10,000 connections need ~10,000 descriptors in
# each process (the hard limit here is 20,000).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
RATE=${2:-10000}
CONNS=${CONNS:-"1 64 1000 10000"}
OUT=${OUT:-docs/results/models.md}
(( $(nproc) >= 2 )) || { echo "needs 2 CPUs to pin server and load apart" >&2; exit 1; }
mkdir -p target/models
cargo build --release --quiet -p nines-server
rm -f target/models/nines-server-pooled && cp target/release/nines-server target/models/nines-server-pooled
cargo build --release --quiet -p nines-server --no-default-features --features thread-per-connection
rm -f target/models/nines-server-threaded && cp target/release/nines-server target/models/nines-server-threaded
cargo build --release --quiet -p nines-server   # leave the default build in place
cargo build --release --quiet --bin nines
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
ulimit -n "$(ulimit -Hn)"

declare -A CMD=(
  [pooled]="target/models/nines-server-pooled --workers 1 --acceptors 1"
  [pooled-self-accept]="target/models/nines-server-pooled --workers 1 --acceptors 0"
  [thread-per-connection]="target/models/nines-server-threaded --max-threads 20000"
)
LAYOUTS=(pooled pooled-self-accept thread-per-connection)

# Sums a field of /proc/PID/task/*/status over the server's threads.
# Threads come and go while we read (thread-per-connection), so a vanished file is not an error.
task_sum() { { cat /proc/"$1"/task/*/status 2>/dev/null || true; } | awk -v f="$2:" '$1==f {s+=$2} END {print s+0}'; }
status_field() { awk -v f="$2:" '$1==f {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

echo "layout,connections,load,rps,p50_us,p99_us,p99_9_us,errors,rss_kib,threads,ctxsw_per_s,listen_overflows" >"$TMP/raw.csv"
for layout in "${LAYOUTS[@]}"; do
  for conns in $CONNS; do
    for load in closed open; do
      taskset -c 0 ${CMD[$layout]} --port 0 >"$TMP/port" 2>"$TMP/server.err" &
      SPID=$!
      for _ in $(seq 100); do [[ -s $TMP/port ]] && break; sleep 0.05; done
      PORT=$(head -1 "$TMP/port" | sed 's/.*://')
      args=(bench "127.0.0.1:$PORT" --threads 1 -c "$conns" -d "${SECS}s" -w 1s -q --connect-timeout 20s --json "$TMP/r.json")
      [[ $load == open ]] && args+=(--rate "$RATE")
      taskset -c 1 target/release/nines "${args[@]}" >/dev/null 2>"$TMP/driver.err" &
      DPID=$!
      # Sample while measuring: once after warm-up, once near the end.
      sleep 2
      c0=$(( $(task_sum "$SPID" voluntary_ctxt_switches) + $(task_sum "$SPID" nonvoluntary_ctxt_switches) ))
      rss=$(status_field "$SPID" VmRSS); threads=$(status_field "$SPID" Threads)
      sleep $(( SECS - 2 ))
      c1=$(( $(task_sum "$SPID" voluntary_ctxt_switches) + $(task_sum "$SPID" nonvoluntary_ctxt_switches) ))
      # Peak of the two samples: connection threads exit as soon as the load ends.
      r2=$(status_field "$SPID" VmRSS); t2=$(status_field "$SPID" Threads)
      (( r2 > rss )) && rss=$r2; (( t2 > threads )) && threads=$t2
      wait "$DPID" || true
      kill "$SPID"; wait "$SPID" 2>/dev/null || true
      python3 - "$TMP/r.json" "$layout" "$conns" "$load" "$rss" "$threads" "$(( (c1 - c0) / (SECS - 2) ))" >>"$TMP/raw.csv" <<'PY'
import json, sys
f, layout, conns, load, rss, threads, ctx = sys.argv[1:]
try:
    r = json.load(open(f)); l = r["latency_us"]
    print(f"{layout},{conns},{load},{r['throughput_rps']:.0f},{l['p50']},{l['p99']},{l['p99_9']},{r['errors']},{rss},{threads},{ctx},{r['kernel']['listen_overflows']}")
except Exception as e:
    print(f"{layout},{conns},{load},0,0,0,0,-1,{rss},{threads},{ctx},0")
PY
      rm -f "$TMP/r.json"
      echo "$layout $conns $load done" >&2
    done
  done
done

python3 - "$TMP/raw.csv" "$OUT" "$SECS" "$RATE" "$CONNS" <<'PY'
import csv, datetime, os, platform, subprocess, sys
raw, out, secs, rate, conns = sys.argv[1:]
rows = list(csv.DictReader(open(raw)))
sys.path.insert(0, "scripts/lib"); import results
L = ["# Server models under the same load\n",
     f"- Date: {datetime.date.today().isoformat()}",
     f"- Machine: {results.machine()}",
     f"- Command: `scripts/compare-models.sh {secs} {rate}` (CONNS=\"{conns}\")",
     "- Layout: server pinned to CPU 0 (one worker for the pooled layouts), `nines bench --threads 1` pinned to CPU 1; "
     f"closed loop (pipeline 1) and open loop at {int(rate):,} req/s; {secs} s after 1 s of warm-up; 64-byte nines echo. "
     "RSS and threads: the larger of two samples taken while measuring; context switches per second summed over the server's threads while measuring.\n"]
def ctx(r):
    # Summed over live threads: if threads exited between the samples the sum can fall.
    v = int(r["ctxsw_per_s"])
    return f"{v:,}" if v >= 0 else "n/a (threads exited)"

for load in ["closed", "open"]:
    title = "Closed loop" if load == "closed" else f"Open loop, {int(rate):,} req/s (latency corrected for coordinated omission)"
    L.append(f"## {title}\n")
    L.append("| layout | connections | req/s | p50 µs | p99 µs | p99.9 µs | errors | server RSS MiB | server threads | ctx switches/s | ListenOverflows |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r["load"] != load:
            continue
        L.append(f"| {r['layout']} | {int(r['connections']):,} | {int(float(r['rps'])):,} | {float(r['p50_us']):.1f} | {float(r['p99_us']):.1f} | "
                 f"{float(r['p99_9_us']):.1f} | {r['errors']} | {int(r['rss_kib'] or 0)/1024:.1f} | {r['threads']} | {ctx(r)} | {r['listen_overflows']} |")
    L.append("")
body = "\n".join(L) + "\n"
# Hand-written notes below the marker survive a rerun (re-read them against the new figures).
body = results.write(out, body, "compare-models.sh")
print(body)
PY
