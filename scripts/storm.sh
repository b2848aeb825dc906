#!/usr/bin/env bash
# The C10K test of seed 003, then C100K on this machine: nines storm at 10,000, 50,000 and
# 100,000 connections against nines-server, and what each held connection costs. Writes
# docs/results/storm.md.
#
# Each level: nines-server --processes P (SO_REUSEPORT, supervised) pinned to CPU 0, and
# nines storm --processes P pinned to CPU 1, P = ceil(N / 15,000) so no process needs more than
# its 20,000 descriptors; connections come from 127.0.0.2-127.0.0.21 (--source) so no source
# address runs out of ephemeral ports; one connection per millisecond (--connect-rate 1000),
# each sending a 64-byte message every second, held HOLD seconds after the last connected.
#
# Usage: scripts/storm.sh [LEVELS=10000,50000,100000] [HOLD=30]   env: OUT=docs/results/storm.md
# Loopback only; every storm is bounded by N/1000 + HOLD seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
LEVELS=${1:-10000,50000,100000}
HOLD=${2:-30}
OUT=${OUT:-docs/results/storm.md}
RATE=${RATE:-1000}
source scripts/lib/bench.sh
need_pinning
cargo build --release --quiet --bin nines --bin nines-server
BIN=target/release
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

IFS=, read -r -a NS <<<"$LEVELS"
for n in "${NS[@]}"; do
  p=$(( (n + 14999) / 15000 ))
  taskset -c 0 "$BIN/nines-server" --port 0 --processes "$p" --workers 1 --acceptors 1 \
    >"$TMP/server-$n.out" 2>"$TMP/server-$n.err" &
  SRV=$!
  for _ in $(seq 200); do [[ -s $TMP/server-$n.out ]] && break; sleep 0.05; done
  addr=$(sed -n 's/^nines-server listening on //p' "$TMP/server-$n.out")
  [[ -n $addr ]] || { echo "server did not start: $(cat "$TMP/server-$n.err")" >&2; exit 1; }
  echo "storm of $n connections ($p processes each side) against $addr" >&2
  taskset -c 1 "$BIN/nines" storm "$addr" -c "$n" --connect-rate "$RATE" --interval 1s -d "${HOLD}s" \
    --processes "$p" -t 1 --source 127.0.0.2-127.0.0.21 --json "$TMP/storm-$n.json" >"$TMP/storm-$n.txt" || true
  kill -TERM "$SRV"; wait "$SRV" 2>/dev/null || true
  cat "$TMP/storm-$n.txt" >&2
done

python3 - "$TMP" "$OUT" "$LEVELS" "$HOLD" "$RATE" <<'PY'
import json, os, subprocess, sys
tmp, out, levels, hold, rate = sys.argv[1:]
sys.path.insert(0, "scripts/lib"); import results
L = results.header("Connection storms: C10K, then C100K on one 2-core machine",
                   f"scripts/storm.sh {levels} {hold} (RATE={rate})")
def sysctl(k):
    try:
        return open("/proc/sys/" + k.replace(".", "/")).read().split()
    except OSError:
        return ["?"]
L.append(f"- Layout: nines-server (1 worker per process) on CPU 0, nines storm (1 thread per process) on CPU 1; "
         f"connections opened at {rate}/s, one 64-byte nines message per connection per second, held {hold} s "
         "after the ramp; connections from 127.0.0.2-127.0.0.21.")
L.append(f"- Limits as run: `ulimit -n` {subprocess.run(['sh','-c','ulimit -n'],capture_output=True,text=True).stdout.strip()} "
         f"(hard, per process; not raisable here), ip_local_port_range {' '.join(sysctl('net.ipv4.ip_local_port_range'))}, "
         f"somaxconn {sysctl('net.core.somaxconn')[0]}, tcp_max_syn_backlog {sysctl('net.ipv4.tcp_max_syn_backlog')[0]}, "
         f"nf_conntrack_max {sysctl('net.netfilter.nf_conntrack_max')[0]}, tcp_mem {' '.join(sysctl('net.ipv4.tcp_mem'))} (pages).\n")
L.append("| connections | processes (each side) | connected | failed | lost | crashes | messages sent | echoed | connect p50 / p99 / max µs | echo p50 / p99 / p99.9 / max µs | server RSS holding | server B/conn | driver B/conn | kernel TCP sockets | TCP buffer pages |")
L.append("|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|")
for n in levels.split(","):
    path = f"{tmp}/storm-{n}.json"
    if not os.path.exists(path):
        L.append(f"| {int(n):,} | | no result | | | | | | | | | | | | |"); continue
    r = json.load(open(path)); st = r["load"]; d = r["driver"]
    failed = sum(d.get("connect_failures", {}).values())
    c = st.get("connect_time_us") or {}; e = r.get("latency_us") or {}
    sm, dm = st.get("server_memory") or {}, st.get("driver_memory") or {}
    sk = st.get("sockstat_holding") or {}
    p = (int(n) + 14999) // 15000
    fmt = lambda v: f"{v:,.0f}" if isinstance(v, (int, float)) else "-"
    L.append(f"| {int(n):,} | {p} | {st['connected']:,} | {failed:,} | {d['connections_lost']:,} | {len(st['crashes'])} | "
             f"{d['requests_sent']:,} | {r['requests']:,} | {fmt(c.get('p50'))} / {fmt(c.get('p99'))} / {fmt(c.get('max'))} | "
             f"{fmt(e.get('p50'))} / {fmt(e.get('p99'))} / {fmt(e.get('p99_9'))} / {fmt(e.get('max'))} | "
             f"{fmt(sm.get('rss_holding_kib'))} KiB | {fmt(sm.get('bytes_per_connection'))} | {fmt(dm.get('bytes_per_connection'))} | "
             f"{fmt(sk.get('tcp_inuse'))} | {fmt(sk.get('tcp_mem_pages'))} |")
L.append("\n## Summaries as printed\n")
for n in levels.split(","):
    t = f"{tmp}/storm-{n}.txt"
    if os.path.exists(t):
        L.append(f"### {int(n):,} connections\n\n```\n{open(t).read().rstrip()}\n```\n")
body = results.write(out, "\n".join(L) + "\n", "storm.sh")
print(body)
PY
