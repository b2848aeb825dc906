#!/usr/bin/env bash
# TLS as a measured cost (issue 20), against servers and clients nines did not write, in one run.
# Writes docs/results/tls.md.
#
# Server pinned to CPU 0, load to CPU 1 (taskset); rounds interleave the tools so drift hits
# them alike; figures are medians over rounds, ratios the median of per-round ratios.
#   https-load:  nines vs wrk against nginx (1 worker) over HTTPS keep-alive, same connections
#   handshakes:  full and resumed handshakes/s against nginx: `openssl s_time -new` / `-reuse`
#                (one handshake at a time), TLS 1.3 and 1.2
#   handshakes-echo: nines storm with and without resumption, and s_time, against
#                nines-server --protocol echo over TLS (a storm speaks echo, which nginx does not)
#   https-server: nines-server --tls-cert vs nginx (1 worker each) under the same wrk load
#   memory:      server RSS per held idle connection: nginx TLS and plain and nines-server TLS
#                held by python's ssl, nines-server echo held by nines storm
# Each row has the load's CPU per operation (user+sys, rusage) and the server's (/proc/PID/stat,
# every process of it). The nines rows run once nines speaks TLS (`nines bench --help` names
# --cacert; `nines-server --help` names --tls-cert): until then they are skipped and say so.
#
# Usage: scripts/bench-tls.sh [ROUNDS=3] [SECONDS=5]
#   env: CONNS=64 HELD=1000 HANDSHAKES=4000 CONNECT_RATE=2000 OUT=docs/results/tls.md
# Needs wrk, nginx, openssl and python3 (apt-get installs them when run as root). Certificates
# are made here with `openssl req` in a temp dir, removed at exit. Loopback only; every load is
# bounded by SECONDS, every hold by HOLD_LIMIT_S.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bench.sh
need_pinning
ROUNDS=${1:-3} SECS=${2:-5}
CONNS=${CONNS:-64} HELD=${HELD:-1000} HANDSHAKES=${HANDSHAKES:-4000} HOLD_LIMIT_S=120
# Connects per second of the handshake storms: under what one driver thread and one server
# worker each complete on their core (full handshakes cost each side 0.3-0.4 ms of CPU here), so
# the storm holds its schedule and CPU per handshake is measured, not queueing.
CONNECT_RATE=${CONNECT_RATE:-2000}
OUT=${OUT:-docs/results/tls.md}

need_programs wrk:wrk nginx:nginx-light openssl:openssl

cargo build --release --quiet --bin nines --bin nines-server
BIN=${CARGO_TARGET_DIR:-target}/release
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; pkill -f "$TMP/nginx" 2>/dev/null || true; rm -rf "$TMP"' EXIT

make_certs "$TMP/certs"

NINES_TLS=0 SERVER_TLS=0
"$BIN/nines" bench --help 2>/dev/null | grep -q -- --cacert && NINES_TLS=1
"$BIN/nines-server" --help 2>/dev/null | grep -q -- --tls-cert && SERVER_TLS=1
((NINES_TLS)) || echo "nines has no TLS client yet (no --cacert): its rows are skipped" >&2
((SERVER_TLS)) || echo "nines-server has no TLS yet (no --tls-cert): its rows are skipped" >&2

row() { echo "$*" >>"$TMP/raw.csv"; }
echo "round,test,tool,rate_per_s,p99_us,load_cpu_us_per_op,server_cpu_us_per_op,errors" >"$TMP/raw.csv"
echo "round,server,transport,held,rss_before_kib,rss_holding_kib,bytes_per_connection" >"$TMP/memory.csv"
rss_kib() { local t=0; for p in "$@"; do t=$((t + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status"))); done; echo "$t"; }

# nines-server --protocol $1 over TLS (or plain TCP, with a second argument `plain`), 1 worker
# pinned to CPU 0; sets SRV and PORT.
start_nines_server() {
  local tls=(--tls-cert "$CERT" --tls-key "$KEY")
  [[ ${2:-tls} == plain ]] && tls=()
  taskset -c 0 "$BIN/nines-server" --protocol "$1" --port 0 --workers 1 --acceptors 1 \
    "${tls[@]}" >"$TMP/srv.out" 2>"$TMP/srv.err" &
  SRV=$!
  PORT=$(listening_addr "$TMP/srv.out" | sed 's/.*://')
  [[ -n $PORT ]] || { echo "nines-server did not start: $(cat "$TMP/srv.err")" >&2; exit 1; }
}

# --- nines parts: run once nines speaks TLS --------------------------------------------------
# The report's `tls` section (report/tls.rs) gives handshakes, full/resumed, handshakes_per_s
# and handshake_us; a storm's `load.server_memory` the server's RSS per held connection.
# A storm's first message leaves on connect: nginx answers it 400 and closes, so storms go to
# `nines-server --protocol echo --tls-cert` (and speak echo), s_time beside them.
# Handshakes/s: a storm of HANDSHAKES TLS connections at CONNECT_RATE, each resumed from an
# earlier session (the default) or full; nines' handshakes/s is over the span they were made
# in, paced by the storm's schedule: compare CPU per handshake. Prints: handshakes/s, handshake
# p99 µs, handshakes, errors.
nines_storm_handshakes() {
  local port=$1 resume=$2 flags=()
  [[ $resume == full ]] && flags=(--no-tls-resume)
  load "$BIN/nines" storm "127.0.0.1:$port" --protocol echo --tls --cacert "$CA" "${flags[@]}" \
    --connections "$HANDSHAKES" --connect-rate "$CONNECT_RATE" -d 1s -t 1 -q --json "$TMP/storm.json"
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); t=r["tls"]
print(t["handshakes_per_s"], (t.get("handshake_us") or {}).get("p99", "nan"), t["handshakes"], r["errors"])' "$TMP/storm.json"
}

# RSS per held idle connection on both sides, as nines storm measures them (the server's pids
# and the driver itself; messages every 10 s keep the echo connections alive without load),
# over TLS (`tls`) or plain TCP (anything else). Prints: server before, holding, per connection,
# then the driver's.
nines_storm_memory() {
  local tls=()
  [[ $2 == tls ]] && tls=(--tls --cacert "$CA")
  load "$BIN/nines" storm "127.0.0.1:$1" --protocol echo "${tls[@]}" --connections "$HELD" \
    --interval 10s -d 5s -t 1 -q --json "$TMP/hold.json"
  python3 -c 'import json,sys; l=json.load(open(sys.argv[1]))["load"]; s=l["server_memory"]; d=l["driver_memory"]
print(s["rss_before_kib"], s["rss_holding_kib"], s["bytes_per_connection"], d["rss_before_kib"], d["rss_holding_kib"], d["bytes_per_connection"])' "$TMP/hold.json"
}

# --- parts that need no nines TLS ---------------------------------------------------------
# `openssl s_time` for SECS: one connection at a time, each a new session (-new) or the first
# one's resumed (-reuse), TLS 1.3 or, with a third argument tls1_2, TLS 1.2 (where resumption
# skips the key exchange that 1.3's psk_dhe_ke keeps). Prints: handshakes/s (wall), handshakes.
s_time() {
  load openssl s_time -connect "127.0.0.1:$1" -CAfile "$CA" "-$2" ${3:+"-$3"} -time "$SECS"
  python3 -c 'import re,sys; n=int(re.search(r"(\d+) connections in [\d.]+s", open(sys.argv[1]).read()).group(1))
print(n / float(open(sys.argv[2]).read()), n)' "$TMP/load_cpu.out" "$TMP/load_cpu.wall"
}

# Holds N idle TLS (or plain, CA "-") connections from python on CPU 1 until killed; prints
# "held N" once all are up. Python's ssl (OpenSSL) is a client no server here was written for.
cat >"$TMP/hold.py" <<'PY'
import socket, ssl, sys, time
port, n, ca, limit = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
tls = ssl.create_default_context(cafile=ca) if ca != "-" else None
held = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    held.append(tls.wrap_socket(s, server_hostname="localhost") if tls else s)
print("held", len(held), flush=True)
time.sleep(limit)
PY
# memory_row ROUND SERVER TRANSPORT PORT CA "PIDS": the server's RSS (KiB, all of PIDS) before
# and while python holds HELD connections (TLS verified with CA, or plain with CA "-"), as a row.
memory_row() {
  local round=$1 server=$2 transport=$3 port=$4 ca=$5 pids=$6
  local before; before=$(rss_kib $pids)
  taskset -c 1 python3 "$TMP/hold.py" "$port" "$HELD" "$ca" "$HOLD_LIMIT_S" >"$TMP/held" &
  local holder=$!
  for _ in $(seq $((HOLD_LIMIT_S * 10))); do grep -q held "$TMP/held" && break; sleep 0.1; done
  grep -q "held $HELD" "$TMP/held" || { echo "python held no $HELD connections" >&2; exit 1; }
  local holding; holding=$(rss_kib $pids)
  kill "$holder"; wait "$holder" 2>/dev/null || true
  echo "$round,$server,$transport,$HELD,$before,$holding,$(( (holding - before) * 1024 / HELD ))" >>"$TMP/memory.csv"
}

# handshake_row ROUND TEST TOOL PORT "PIDS": one handshake measurement (s_time-new|reuse[-tls12]
# or nines-storm-full|resumed) with the server's CPU per handshake, as a row.
handshake_row() {
  local round=$1 test=$2 tool=$3 port=$4 pids=$5 c0 c1 rate p99=nan n errs=0 mode
  c0=$(cpu_of $pids)
  case $tool in
    s_time-*-tls12) mode=${tool#s_time-}; read -r rate n < <(s_time "$port" "${mode%-tls12}" tls1_2) ;;
    s_time-*) read -r rate n < <(s_time "$port" "${tool#s_time-}") ;;
    nines-storm-*) read -r rate p99 n errs < <(nines_storm_handshakes "$port" "${tool#nines-storm-}") ;;
  esac
  c1=$(cpu_of $pids)
  row "$round,$test,$tool,$rate,$p99,$(per_op "$c0" "$c1" "$n"),$errs"
}

for round in $(seq "$ROUNDS"); do
  # --- https-load and handshakes, against one TLS nginx -------------------------------------
  port=$(free_port); start_nginx "$port" "$CERT" "$KEY"; pids=$(nginx_pids)
  # nines: `nines bench https://127.0.0.1:PORT/ --cacert CA`, the same connections and thread.
  for tool in nines wrk; do
    [[ $tool == nines ]] && ! ((NINES_TLS)) && continue
    http_load "$round" https-load "$tool" "$tool" "https://127.0.0.1:$port/" "$pids" --cacert "$CA"
  done
  for tool in s_time-new s_time-reuse s_time-new-tls12 s_time-reuse-tls12; do
    handshake_row "$round" handshakes "$tool" "$port" "$pids"
  done
  stop_nginx
  # Memory on fresh servers (a loaded one's pools would hide the growth): TLS, then plain TCP,
  # what a held connection costs without TLS.
  port=$(free_port); start_nginx "$port" "$CERT" "$KEY"
  memory_row "$round" nginx tls "$port" "$CA" "$(nginx_pids)"; stop_nginx
  port=$(free_port); start_nginx "$port"
  memory_row "$round" nginx plain "$port" - "$(nginx_pids)"; stop_nginx

  # --- handshakes-echo: nines storm and s_time against one TLS nines-server echo -------------
  if ((NINES_TLS && SERVER_TLS)); then
    start_nines_server echo; pids=$SRV
    for tool in s_time-new s_time-reuse nines-storm-full nines-storm-resumed; do
      handshake_row "$round" handshakes-echo "$tool" "$PORT" "$pids"
    done
    kill "$SRV"; wait "$SRV" 2>/dev/null || true
    # Both sides of a storm holding HELD connections, TLS and then plain TCP: what TLS costs
    # a held connection in nines-server and in the nines driver.
    for transport in tls plain; do
      start_nines_server echo "$transport"
      read -r b h per db dh dper < <(nines_storm_memory "$PORT" "$transport")
      echo "$round,nines-server echo (nines storm),$transport,$HELD,$b,$h,$per" >>"$TMP/memory.csv"
      echo "$round,nines storm (driver),$transport,$HELD,$db,$dh,$dper" >>"$TMP/memory.csv"
      kill "$SRV"; wait "$SRV" 2>/dev/null || true
    done
  fi

  # --- https-server: nines-server TLS vs nginx TLS under the same wrk load -------------------
  for server in nines-server nginx; do
    if [[ $server == nines-server ]]; then
      ((SERVER_TLS)) || continue
      start_nines_server http; pids=$SRV
      memory_row "$round" nines-server tls "$PORT" "$CA" "$pids"
    else
      PORT=$(free_port); start_nginx "$PORT" "$CERT" "$KEY"; pids=$(nginx_pids)
    fi
    http_load "$round" https-server "$server" wrk "https://127.0.0.1:$PORT/" "$pids"
    if [[ $server == nines-server ]]; then
      kill "$SRV"; wait "$SRV" 2>/dev/null || true
    else
      stop_nginx
    fi
  done
  echo "round $round done" >&2
done

python3 - "$TMP/raw.csv" "$TMP/memory.csv" "$OUT" "$ROUNDS" "$SECS" "$CONNS" "$HELD" "$HANDSHAKES" "$NINES_TLS" "$SERVER_TLS" <<'PY'
import csv, statistics, sys
raw, memory, out, rounds, secs, conns, held, handshakes, nines_tls, server_tls = sys.argv[1:]
rows = list(csv.DictReader(open(raw)))
mem = list(csv.DictReader(open(memory)))
sys.path.insert(0, "scripts/lib"); import results
def med(test, tool, key):
    v = [float(r[key]) for r in rows if r["test"] == test and r["tool"] == tool and r[key] not in ("", "nan")]
    return statistics.median(v) if v else float("nan")
def ratio(test, a, b):
    """Median over rounds of a/b measured in the same round: drift between rounds cancels."""
    per = []
    for rnd in sorted({r["round"] for r in rows}):
        x = [float(r["rate_per_s"]) for r in rows if r["round"] == rnd and r["test"] == test and r["tool"] == a]
        y = [float(r["rate_per_s"]) for r in rows if r["round"] == rnd and r["test"] == test and r["tool"] == b]
        if x and y and y[0]:
            per.append(x[0] / y[0])
    return (statistics.median(per), min(per), max(per)) if per else (float("nan"),) * 3
L = results.header("TLS: load, handshakes, servers and memory",
                   f"scripts/bench-tls.sh {rounds} {secs} (CONNS={conns} HELD={held})")
L.append(f"- Layout: server pinned to CPU 0, load to CPU 1 (taskset); 1 server worker, 1 load thread; "
         f"{rounds} interleaved rounds of {secs} s per tool; medians over rounds, ratios the median of "
         "per-round ratios. TLS 1.3 (1.2 allowed), ECDSA P-256 certificate from a throwaway CA; nginx "
         "with a shared session cache and tickets. CPU µs/op: the load's own (rusage) and the server's "
         "(/proc/PID/stat, all its processes), each over the operations done.")
if nines_tls != "1":
    L.append("- **nines rows skipped**: this build of nines has no TLS client (`--cacert`).")
if server_tls != "1":
    L.append("- **nines-server rows skipped**: this build of nines-server has no TLS (`--tls-cert`).")
L.append("")
tests = [
    ("https-load", "rate_per_s", "requests/s", ["nines", "wrk"], f"Load generators against nginx over HTTPS keep-alive, {conns} connections"),
    ("handshakes", "rate_per_s", "handshakes/s", ["s_time-new", "s_time-reuse", "s_time-new-tls12", "s_time-reuse-tls12"],
     "Handshakes against nginx: openssl s_time, one at a time, TLS 1.3 and 1.2"),
    ("handshakes-echo", "rate_per_s", "handshakes/s", ["s_time-new", "s_time-reuse", "nines-storm-full", "nines-storm-resumed"],
     f"Handshakes against nines-server --protocol echo: s_time one at a time, nines storm of {handshakes}"),
    ("https-server", "rate_per_s", "requests/s", ["nines-server", "nginx"], f"HTTPS servers (1 worker each) under the same wrk load, {conns} connections"),
]
for test, key, unit, tools, title in tests:
    present = [t for t in tools if any(r["test"] == test and r["tool"] == t for r in rows)]
    if not present:
        continue
    base = "s_time-new" if test.startswith("handshakes") else present[-1]
    L.append(f"## {title}\n")
    L.append(f"| tool | {unit} | p99 µs | load CPU µs/op | server CPU µs/op | errors | vs {base} (per-round median, range) |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for t in present:
        r, p, lc, sc, e = (med(test, t, k) for k in (key, "p99_us", "load_cpu_us_per_op", "server_cpu_us_per_op", "errors"))
        m, lo, hi = ratio(test, t, base)
        L.append(f"| {t} | {r:,.0f} | {p:.0f} | {lc:.2f} | {sc:.2f} | {e:.0f} | {m:.2f}x ({lo:.2f}–{hi:.2f}) |")
    L.append("")
L.append(f"## Memory per held idle connection ({held} connections), servers and the nines driver\n")
L.append("| server | transport | RSS before KiB | RSS holding KiB | bytes per connection |")
L.append("|---|---|---:|---:|---:|")
for key in dict.fromkeys((m["server"], m["transport"]) for m in mem):
    sel = [m for m in mem if (m["server"], m["transport"]) == key]
    md = lambda k: statistics.median(float(m[k]) for m in sel)
    L.append(f"| {key[0]} | {key[1]} | {md('rss_before_kib'):,.0f} | {md('rss_holding_kib'):,.0f} | {md('bytes_per_connection'):,.0f} |")
L.append("")
L.append("## Raw rounds\n")
L.append("| round | test | tool | rate/s | p99 µs | load CPU µs/op | server CPU µs/op | errors |")
L.append("|---|---|---|---:|---:|---:|---:|---:|")
for r in rows:
    L.append(f"| {r['round']} | {r['test']} | {r['tool']} | {float(r['rate_per_s']):,.0f} | {float(r['p99_us']):.0f} | "
             f"{float(r['load_cpu_us_per_op']):.2f} | {float(r['server_cpu_us_per_op']):.2f} | {r['errors']} |")
body = results.write(out, "\n".join(L) + "\n", "bench-tls.sh")
print(body)
PY
