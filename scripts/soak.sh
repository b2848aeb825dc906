#!/usr/bin/env bash
# Soak: nines-server under open-loop load for a bounded time with hostile clients beside the
# normal ones, watched every second. Writes docs/results/soak.md (OUT) and fails when
#   - any normal request fails (an error of any kind, or the run not completing), or
#   - the server's RSS, after the warm-up, grows more than RSS_GROWTH_MIB above the most it
#     reached during the warm-up (the bound: hostile clients may fill the --max-buffered budget
#     during the warm-up; past it, memory must stay flat), or
#   - the server's RSS grows steadily faster than RSS_GROWTH_SLO (`nines bench --slo
#     rss_growth<=RSS_GROWTH_SLO`: judged each second from the tenth on, it stops the load as
#     soon as a leak is certain, and the rest of the soak with it), or
#   - the server dies, or
#   - the strict-protocol traffic below is answered wrongly, or the counters of its servers
#     disagree with what it sent.
#
# Beside the normal load (`nines bench --rate RATE`, CONNS connections) run, for the whole soak:
#   slowloris    (HOSTILE connections trickling a byte every 0.5 s: closed by --read-timeout),
#   never-read   (HOSTILE/4 connections asking for 4 MiB each, never reading; restarted every
#                 60 s, since a client that never reads cannot see its close),
#   connect-drop (100 connects-and-closes per second),
#   hold         (HOSTILE idle connections: closed by --idle-timeout only if it is shorter).
# And beside them, a `--protocol ws` and a `--protocol http` nines-server (same flags, CPU 0) get
# strict-protocol traffic from scripts/lib/strict_soak.py, STRICT_RATE rounds a second: text and
# binary messages in fragments cut inside code points (echoed whole), hostile WebSocket messages
# (closed with 1007 or 1002), keep-alive GETs and the HTTP requests nginx refuses (400, 413, 431).
#
# Usage: scripts/soak.sh [MINUTES=10]
#        env: RATE=20000 CONNS=32 HOSTILE=100 WARMUP_S=60 RSS_GROWTH_MIB=32 RSS_GROWTH_SLO=10MB/min
#             STRICT_RATE=20
#             SERVER_FLAGS="" (extra nines-server flags) OUT=docs/results/soak.md
# Server pinned to CPU 0, every client to CPU 1. Loopback only; every load ends with the soak.
set -euo pipefail
cd "$(dirname "$0")/.."
MIN=${1:-10}
RATE=${RATE:-20000}
CONNS=${CONNS:-32}
HOSTILE=${HOSTILE:-100}
WARMUP_S=${WARMUP_S:-60}
RSS_GROWTH_MIB=${RSS_GROWTH_MIB:-32}
RSS_GROWTH_SLO=${RSS_GROWTH_SLO:-10MB/min}
STRICT_RATE=${STRICT_RATE:-20}
SERVER_FLAGS=${SERVER_FLAGS:-}
OUT=${OUT:-docs/results/soak.md}
[[ $MIN =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "usage: scripts/soak.sh [MINUTES] (a number, not '$MIN')" >&2; exit 2; }
SECS=$(python3 -c "print(max(1, round(float('$MIN') * 60)))")
(( SECS > WARMUP_S )) || { echo "the soak ($SECS s) must be longer than WARMUP_S ($WARMUP_S s)" >&2; exit 2; }
source scripts/lib/bench.sh
need_pinning

cargo build --release --quiet --bin nines --bin nines-server
BIN=${CARGO_TARGET_DIR:-target}/release
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT

# shellcheck disable=SC2086 # SERVER_FLAGS is a list of flags
taskset -c 0 "$BIN/nines-server" --port 0 --workers 1 $SERVER_FLAGS >"$TMP/port" 2>"$TMP/server.err" &
SPID=$!
for _ in $(seq 100); do [[ -s $TMP/port ]] && break; sleep 0.05; done
PORT=$(head -1 "$TMP/port" | sed 's/.*://')
[[ -n $PORT ]] || { echo "server did not start: $(cat "$TMP/server.err")" >&2; exit 1; }
ADDR=127.0.0.1:$PORT
# The strict-protocol servers: one per protocol, as a server speaks one.
declare -A PROTO_PID PROTO_ADDR
for proto in ws http; do
  # shellcheck disable=SC2086 # SERVER_FLAGS is a list of flags
  taskset -c 0 "$BIN/nines-server" --port 0 --workers 1 --protocol "$proto" $SERVER_FLAGS \
    >"$TMP/$proto.out" 2>"$TMP/$proto.err" &
  PROTO_PID[$proto]=$!
  PROTO_ADDR[$proto]=$(listening_addr "$TMP/$proto.out")
  [[ -n ${PROTO_ADDR[$proto]} ]] || { echo "the $proto server did not start: $(cat "$TMP/$proto.err")" >&2; exit 1; }
done
echo "soak: ${SECS}s against $ADDR (server pid $SPID), ws ${PROTO_ADDR[ws]}, http ${PROTO_ADDR[http]}; figures to $OUT" >&2

# One sample a second: elapsed, RSS KiB, open descriptors, then the ws and http servers' RSS KiB.
rss_of() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo ""; }
(
  t0=$(date +%s.%N)
  while kill -0 "$SPID" 2>/dev/null; do
    fds=$(ls "/proc/$SPID/fd" 2>/dev/null | wc -l)
    echo "$(echo "$(date +%s.%N) - $t0" | bc -l),$(rss_of "$SPID"),$fds,$(rss_of "${PROTO_PID[ws]}"),$(rss_of "${PROTO_PID[http]}")"
    sleep 1
  done
) >"$TMP/samples.csv" &

H=(taskset -c 1 "$BIN/nines" hostile "$ADDR")
"${H[@]}" --mode slowloris -c "$HOSTILE" -d "${SECS}s" --json "$TMP/slowloris.json" >/dev/null 2>&1 &
"${H[@]}" --mode hold -c "$HOSTILE" -d "${SECS}s" --json "$TMP/hold.json" >/dev/null 2>&1 &
"${H[@]}" --mode connect-drop -R 100 -d "${SECS}s" --json "$TMP/connect-drop.json" >/dev/null 2>&1 &
(
  left=$SECS; i=0
  while (( left > 0 )); do
    step=$(( left < 60 ? left : 60 ))
    "${H[@]}" --mode never-read -c $(( HOSTILE / 4 )) -d "${step}s" --json "$TMP/never-read-$i.json" >/dev/null 2>&1 || true
    left=$(( left - step )); i=$(( i + 1 ))
  done
) &

taskset -c 1 python3 scripts/lib/strict_soak.py "${PROTO_ADDR[ws]}" "${PROTO_ADDR[http]}" "$SECS" \
  "$TMP/strict.json" "$STRICT_RATE" 2>"$TMP/strict.err" &
STRICT=$!

status=0
taskset -c 1 "$BIN/nines" bench "$ADDR" --rate "$RATE" -c "$CONNS" --threads 1 -d "${SECS}s" -w 0s \
  --slo "rss_growth<=$RSS_GROWTH_SLO" --json "$TMP/bench.json" >"$TMP/bench.txt" 2>&1 || status=$?
# A leak stops the load early (its growth SLO passed for certain): the soak stops with it.
growth_stop=0
python3 -c 'import json, sys; sys.exit((json.load(open(sys.argv[1])).get("cut_short") or {}).get("kind") != "growth_slo")' \
  "$TMP/bench.json" 2>/dev/null && growth_stop=1
if (( growth_stop )); then kill "$STRICT" 2>/dev/null || true; fi
# The strict traffic stops at the same deadline (each of its waits bounded by 5 s): its counts
# must be complete before its servers' counters are read.
wait "$STRICT" 2>/dev/null || true
sleep 1
alive=1; kill -0 "$SPID" 2>/dev/null || alive=0
strict_alive=1
for proto in ws http; do kill -0 "${PROTO_PID[$proto]}" 2>/dev/null || strict_alive=0; done
servers=" $SPID ${PROTO_PID[ws]} ${PROTO_PID[http]} "
# The hostile clients end with the load; whatever is left of them (a never-read round that
# started late) is stopped here, so the soak never outlives its bound.
for j in $(jobs -p); do [[ $servers == *" $j "* ]] || kill "$j" 2>/dev/null || true; done
kill -TERM "$SPID" "${PROTO_PID[ws]}" "${PROTO_PID[http]}" 2>/dev/null || true
wait 2>/dev/null || true

python3 - "$TMP" "$OUT" "$MIN" "$SECS" "$RATE" "$CONNS" "$HOSTILE" "$WARMUP_S" "$RSS_GROWTH_MIB" "$status" "$alive" "$SERVER_FLAGS" "$STRICT_RATE" "$strict_alive" "$RSS_GROWTH_SLO" "$growth_stop" <<'PY'
import glob, json, os, re, statistics, sys
sys.path.insert(0, "scripts/lib"); import results
tmp, out, minutes, secs, rate, conns, hostile, warm, growth, status, alive, flags, strict_rate, strict_alive, growth_slo, growth_stop = sys.argv[1:]
secs, warm, growth, status, alive, strict_alive, growth_stop = int(secs), int(warm), int(growth), int(status), int(alive), int(strict_alive), int(growth_stop)
samples, proto_rss = [], {"ws": [], "http": []}
for line in open(os.path.join(tmp, "samples.csv")):
    t, rss, fds, ws_rss, http_rss = line.strip().split(",")
    if rss:
        samples.append((float(t), int(rss), int(fds)))
    for proto, v in [("ws", ws_rss), ("http", http_rss)]:
        if v:
            proto_rss[proto].append((float(t), int(v)))
r = json.load(open(os.path.join(tmp, "bench.json"))) if os.path.exists(os.path.join(tmp, "bench.json")) else None
def stopped_counters(stdout):
    m = re.search(r"nines-server stopped: (.*)", open(os.path.join(tmp, stdout)).read())
    return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())} if m else {}
counters = stopped_counters("port")
# Each kind from the server of its protocol.
proto_counters = ({k: v for k, v in stopped_counters("ws.out").items() if "_ws" in k}
                  | {k: v for k, v in stopped_counters("http.out").items() if "_http" in k})
strict_path = os.path.join(tmp, "strict.json")
strict = json.load(open(strict_path)) if os.path.exists(strict_path) else None

warm_rss = [s[1] for s in samples if s[0] <= warm]
after = [s for s in samples if s[0] > warm]
warm_max = max(warm_rss) if warm_rss else 0
after_max = max((s[1] for s in after), default=0)
fails = []
if not alive:
    fails.append("the server died during the soak")
if r is None:
    fails.append("the normal load wrote no result")
else:
    if growth_stop:
        c = r["cut_short"]
        fails.append(f"the server's memory grew +{c['per_s'] * 60 / 2**20:.1f} MiB/min (r² {c['r2']:.2f}), past "
                     f"rss_growth<={growth_slo}: the soak stopped after {c['after_s']:.0f} s")
    elif r["errors"] or r["status"] != "completed":
        fails.append(f"normal requests failed: status {r['status']}, errors {r['errors']} {r['errors_by_kind']}")
    for c in (r.get("slo") or {}).get("clauses", []):
        if not c["pass"] and not growth_stop:
            m = c["measured"]
            fails.append(f"{c['clause']['text']} failed over the whole soak: measured "
                         + ("nothing" if m is None else f"{m * 60 / 2**20:+.1f} MiB/min"))
if after_max > warm_max + growth * 1024:
    fails.append(f"RSS grew to {after_max / 1024:.1f} MiB after the warm-up, more than {growth} MiB above its warm-up peak of {warm_max / 1024:.1f} MiB")
if not after and not growth_stop:
    fails.append("no samples after the warm-up")
if not strict_alive:
    fails.append("a strict-protocol server (ws or http) died during the soak")
if strict is None:
    if not growth_stop:
        fails.append("the strict-protocol traffic wrote no result")
else:
    failed = {k: c["failed"] for k, c in strict["checks"].items() if c["failed"]}
    if failed:
        fails.append(f"strict-protocol checks failed: {failed}; first: {strict['failures'][:3]}")
    off = {k: (v, proto_counters.get(k)) for k, v in strict["counters"].items() if proto_counters.get(k) != v}
    if off:
        fails.append(f"refusals sent vs counted by the servers differ: {off}")
for proto, rs in proto_rss.items():
    w = max((v for t, v in rs if t <= warm), default=0)
    a = max((v for t, v in rs if t > warm), default=0)
    if a > w + growth * 1024:
        fails.append(f"the {proto} server's RSS grew to {a / 1024:.1f} MiB after the warm-up, more than {growth} MiB above its warm-up peak of {w / 1024:.1f} MiB")

def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")

L = results.header("Soak: open-loop load beside hostile clients",
                   f"RATE={rate} CONNS={conns} HOSTILE={hostile} WARMUP_S={warm} RSS_GROWTH_MIB={growth} RSS_GROWTH_SLO={growth_slo} STRICT_RATE={strict_rate} "
                   f"SERVER_FLAGS=\"{flags}\" scripts/soak.sh {minutes}")
L += [f"- Layout: `nines-server --workers 1 {flags}`".rstrip() + " (default limits otherwise) pinned to CPU 0; on CPU 1 the "
      f"normal load (`nines bench --rate {int(rate):,} -c {conns}`, open loop, latency corrected for coordinated "
      f"omission) and the hostile clients: {hostile} slowloris, {hostile} hold, {int(hostile) // 4} never-read "
      "(restarted every 60 s), 100 connect-drop per second. Beside it, a `--protocol ws` and a `--protocol http` "
      f"server (same flags, CPU 0) get {strict_rate} rounds a second of strict-protocol traffic (scripts/lib/strict_soak.py).",
      f"- Verdict: **{'FAIL' if fails else 'PASS'}**" + ("".join(f"\n  - {f}" for f in fails) if fails else
      f" — every normal request answered, RSS within {growth} MiB of its warm-up peak, the servers alive, "
      "every strict-protocol exchange answered as RFC 9112 / RFC 6455 ask and counted by its kind."),
      ""]
if r:
    lat = r["latency_us"] or {}
    L += ["## Normal load\n", "| requests | errors | req/s | p50 µs | p99 µs | p99.9 µs | p99.99 µs | max µs |",
          "|---:|---:|---:|---:|---:|---:|---:|---:|",
          f"| {r['requests']:,} | {r['errors']} | {r['throughput_rps']:,.0f} | {lat.get('p50', 0):.1f} | {lat.get('p99', 0):.1f} | "
          f"{lat.get('p99_9', 0):.1f} | {lat.get('p99_99', 0):.1f} | {lat.get('max', 0):.1f} |", ""]
    p99s = [i["latency_us"]["p99"] for i in r["intervals"] if i.get("latency_us")]
    if p99s:
        L += [f"Per-second p99 over {len(p99s)} seconds: median {statistics.median(p99s):.1f} µs, "
              f"90th percentile {q(p99s, 0.9):.1f} µs, worst {max(p99s):.1f} µs.\n"]
L += ["## Server memory and descriptors (sampled every second)\n",
      "| window | RSS MiB min / median / max | descriptors min / median / max |", "|---|---|---|"]
for name, win in [(f"warm-up (first {warm} s)", [s for s in samples if s[0] <= warm]), ("after the warm-up", after)]:
    if win:
        rs, fs = [s[1] / 1024 for s in win], [s[2] for s in win]
        L.append(f"| {name} | {min(rs):.1f} / {statistics.median(rs):.1f} / {max(rs):.1f} | {min(fs)} / {statistics.median(fs):.0f} / {max(fs)} |")
L += ["", "RSS by minute (MiB, max within the minute): " +
      ", ".join(f"{max(s[1] for s in samples if int(s[0] // 60) == m) / 1024:.1f}"
                for m in sorted({int(s[0] // 60) for s in samples})), ""]
L += ["## What the hostile clients met\n", "| clients | summary |", "|---|---|"]
for f in sorted(glob.glob(os.path.join(tmp, "*.json"))):
    name = os.path.basename(f)[:-5]
    if name in ("bench", "strict"):  # results with sections of their own
        continue
    h = json.load(open(f))
    parts = [f"{k.replace('_', ' ')} {h[k]:,}" for k in ["opened", "closed_by_server", "peak_open"] if isinstance(h.get(k), int)]
    if h.get("lifetime_s"):
        parts.append(f"lifetime when closed p50 {h['lifetime_s']['p50']:.1f} s, max {h['lifetime_s']['max']:.1f} s")
    if h.get("connect_failures"):
        parts.append("connect failures " + ", ".join(f"{k} {v:,}" for k, v in h["connect_failures"].items()))
    L.append(f"| {name} | " + ", ".join(parts) + " |")
if counters:
    keep = ["connections_accepted", "requests", "refused_max_connections", "evicted_idle", "closed_read_timeout",
            "closed_idle_timeout", "closed_send_timeout", "closed_over_budget", "turns_yielded", "errors_io"]
    L += ["", "## Server counters at shutdown\n", ", ".join(f"{k} {int(counters[k]):,}" for k in keep if k in counters)]
if strict:
    L += ["", f"## Strict-protocol traffic ({strict['rounds']:,} rounds)\n", "| exchange | sent | answered wrong |", "|---|---:|---:|"]
    L += [f"| {k} | {c['sent']:,} | {c['failed']:,} |" for k, c in strict["checks"].items()]
    L += ["", "Refusals sent, and counted by the ws and http servers: " +
          ", ".join(f"{k} {v:,} / {proto_counters.get(k, 0):,}" for k, v in sorted(strict["counters"].items()))]
    L += ["", "ws and http servers' RSS MiB (max during / after the warm-up): " +
          ", ".join(f"{p} {max((v for t, v in rs if t <= warm), default=0) / 1024:.1f} / {max((v for t, v in rs if t > warm), default=0) / 1024:.1f}"
                    for p, rs in proto_rss.items())]
print(results.write(out, "\n".join(L) + "\n", "soak.sh"))
sys.exit(1 if fails else 0)
PY
