#!/usr/bin/env bash
# A/B at two revisions, in one run: the driver or the server at another git revision (A)
# against the working tree's (B), so a change is judged by ratios measured side by side,
# never against figures from another day. Writes docs/results/driver-ab.md or server-ab.md.
#
# WHAT=driver: A's and B's `nines` load one nines-server (this tree's) in turn.
# WHAT=server: this tree's `nines` loads A's and B's nines-server in turn.
# Server on CPU 0 (--workers 1), load on CPU 1 (1 thread), interleaved rounds (A first in odd
# rounds, B first in even): closed loop (throughput, p99, CPU per reply of the side under test)
# and open loop at a fixed rate (corrected p99 and the driver's schedule lag).
#
# Usage: scripts/bench-ab.sh [REV_A=HEAD~1|tree] [ROUNDS=5] [SECONDS=3]
#        REV_A=tree: both sides are this tree's build, told apart by ARGS_A/ARGS_B (extra
#        driver flags, shell words, e.g. ARGS_B="--request '1 name=a 48..80' --payload ..."):
#        the cost of a feature against the same request without it, in one build.
#        env: WHAT=driver|server CONNS=64 RATE=50000 PROTO=echo|nines|http TLS=0|1 ARGS_A= ARGS_B=
#             OUT=docs/results/$WHAT-ab.md (TLS=1: the server with a certificate made here,
#             the driver with --tls --cacert; both revisions must speak TLS)
# Loopback only; every load is bounded by SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
REV_A=${1:-HEAD~1}
ROUNDS=${2:-5}
SECS=${3:-3}
WHAT=${WHAT:-driver}
CONNS=${CONNS:-64}
RATE=${RATE:-50000}
case $WHAT in
  driver) PROTO=${PROTO:-echo} ;;
  server) PROTO=${PROTO:-nines} ;;
  *) echo "WHAT must be driver or server, not '$WHAT'" >&2; exit 2 ;;
esac
TLS=${TLS:-0}
OUT=${OUT:-docs/results/$WHAT-ab.md}
source scripts/lib/bench.sh
need_pinning

eval "EXTRA_A=(${ARGS_A:-})"; eval "EXTRA_B=(${ARGS_B:-})"
if [[ $REV_A == tree ]]; then
  A_SHA="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo -dirty)" B_SHA=$A_SHA WT=.
  echo "building this tree ($B_SHA) for both sides" >&2
else
  ab_worktree "$REV_A"
  echo "building A ($A_SHA) and B ($B_SHA)" >&2
  (cd "$WT" && cargo build --release --quiet --bin nines --bin nines-server)
fi
cargo build --release --quiet --bin nines --bin nines-server
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
SERVER_TLS=() DRIVER_TLS=()
if ((TLS)); then
  make_certs "$TMP/certs"
  SERVER_TLS=(--tls-cert "$CERT" --tls-key "$KEY") DRIVER_TLS=(--tls --cacert "$CA")
fi

# start_server BIN NAME: pinned to CPU 0; sets PORT_<NAME> and PID_<NAME>.
start_server() {
  taskset -c 0 "$1" --port 0 --protocol "$PROTO" --workers 1 "${SERVER_TLS[@]}" >"$TMP/port-$2" 2>/dev/null &
  printf -v "PID_$2" %s $!
  for _ in $(seq 100); do [[ -s $TMP/port-$2 ]] && break; sleep 0.05; done
  local port; port=$(head -1 "$TMP/port-$2" | sed 's/.*://')
  [[ -n $port ]] || { echo "server $1 did not start" >&2; exit 1; }
  printf -v "PORT_$2" %s "$port"
}
cpu_s() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
if [[ $WHAT == driver ]]; then
  declare -A DRIVER=([A]="$WT/target/release/nines" [B]="target/release/nines")
  start_server target/release/nines-server S
  declare -A PORT=([A]=$PORT_S [B]=$PORT_S) SPID=([A]=$PID_S [B]=$PID_S)
else
  declare -A DRIVER=([A]="target/release/nines" [B]="target/release/nines")
  start_server "$WT/target/release/nines-server" A
  start_server target/release/nines-server B
  declare -A PORT=([A]=$PORT_A [B]=$PORT_B) SPID=([A]=$PID_A [B]=$PID_B)
fi

echo "round,side,load,rps,p99_us,lag_p99_us,cpu_us_per_req" >"$TMP/raw.csv"
for round in $(seq "$ROUNDS"); do
  # Alternate which side goes first, so drift during a round cannot favour one side.
  order=(A B); (( round % 2 == 0 )) && order=(B A)
  for d in "${order[@]}"; do
    for load in closed open; do
      extra=(); [[ $load == open ]] && extra=(--rate "$RATE")
      if [[ $d == A ]]; then extra+=("${EXTRA_A[@]}"); else extra+=("${EXTRA_B[@]}"); fi
      s0=$(cpu_s "${SPID[$d]}")
      /usr/bin/time -f "%U %S" -o "$TMP/time" taskset -c 1 "${DRIVER[$d]}" bench "127.0.0.1:${PORT[$d]}" \
        --protocol "$PROTO" -c "$CONNS" --threads 1 -d "${SECS}s" -w 1s -q "${extra[@]}" "${DRIVER_TLS[@]}" --json "$TMP/r.json" >/dev/null || true
      s1=$(cpu_s "${SPID[$d]}")
      # The CPU of the side under test: the driver's from time(1), the server's from /proc.
      if [[ $WHAT == driver ]]; then cpu=$(awk '{print $1 + $2}' "$TMP/time"); else cpu=$(echo "$s1 - $s0" | bc -l); fi
      python3 - "$TMP/r.json" "$cpu" "$round" "$d" "$load" >>"$TMP/raw.csv" <<'PY'
import json, sys
f, cpu, rnd, d, load = sys.argv[1:]
r = json.load(open(f))
# nines-report/2 keeps the load in one `load`; /1 (an older revision A) in `open_loop`.
lag = (r.get("load") if "load" in r else r.get("open_loop") or {}).get("schedule_lag_us") or {}
answered = r["requests"] + (r.get("warmup") or {}).get("requests", 0)
print(f"{rnd},{d},{load},{r['throughput_rps']:.0f},{r['latency_us']['p99']},{lag.get('p99', '')},{float(cpu) * 1e6 / max(answered, 1):.3f}")
PY
      echo "round $round $WHAT $d $load done" >&2
    done
  done
done

python3 - "$TMP/raw.csv" "$OUT" "$REV_A" "$A_SHA" "$B_SHA" "$ROUNDS" "$SECS" "$CONNS" "$RATE" "$WHAT" "$PROTO" "$TLS" "${ARGS_A:-}" "${ARGS_B:-}" <<'PY'
import csv, statistics, sys
sys.path.insert(0, "scripts/lib"); import results
raw, out, rev_a, a_sha, b_sha, rounds, secs, conns, rate, what, proto, tls, args_a, args_b = sys.argv[1:]
rows = list(csv.DictReader(open(raw)))
def med(d, load, key):
    v = [float(r[key]) for r in rows if r["side"] == d and r["load"] == load and r[key]]
    return statistics.median(v) if v else float("nan")
setup = ("Both drivers load one nines-server (this tree's)" if what == "driver"
         else "This tree's driver loads both servers in turn")
env = "".join(f"{k}=\"{v}\" " for k, v in [("ARGS_A", args_a), ("ARGS_B", args_b)] if v)
L = results.header(f"{what.capitalize()} A/B: before and after a {what} change, measured side by side",
                   f"{env}WHAT={what} CONNS={conns} RATE={rate} PROTO={proto} TLS={tls} scripts/bench-ab.sh {rev_a} {rounds} {secs}")
if args_a or args_b:
    L.append(f"- Extra driver flags: A `{args_a or '(none)'}`, B `{args_b or '(none)'}`.")
L += [f"- A = `{a_sha}` ({rev_a}), B = `{b_sha}` (this tree). {setup}: server "
      f"(--protocol {proto} --workers 1) pinned to CPU 0, load from CPU 1, {conns} connections, "
      f"{'HTTP GET / (keep-alive)' if proto == 'http' else '64-byte echo'}{' over TLS (a P-256 certificate made for the run)' if tls == '1' else ''}, 1 driver thread, {rounds} interleaved rounds of {secs} s (+1 s warm-up); medians. "
      f"CPU per reply is the {what}'s (user + system).\n",
      "| load | figure | A | B | B / A |", "|---|---|---:|---:|---:|"]
for load, figs in [("closed", [("rps", "throughput req/s"), ("p99_us", "p99 µs"), ("cpu_us_per_req", f"{what} CPU µs per reply")]),
                   ("open", [("p99_us", f"corrected p99 µs at {int(rate):,}/s"), ("lag_p99_us", "schedule lag p99 µs"), ("cpu_us_per_req", f"{what} CPU µs per reply")])]:
    for key, name in figs:
        a, b = med("A", load, key), med("B", load, key)
        L.append(f"| {load} loop | {name} | {a:,.2f} | {b:,.2f} | {b / a:.3f} |")
L += ["\n## Raw rounds\n", f"| round | {what} | load | req/s | p99 µs | lag p99 µs | {what} CPU µs/reply |", "|---|---|---|---:|---:|---:|---:|"]
for r in rows:
    L.append(f"| {r['round']} | {r['side']} | {r['load']} | {float(r['rps']):,.0f} | {r['p99_us']} | {r['lag_p99_us']} | {r['cpu_us_per_req']} |")
# Hand-written notes below the marker survive a rerun (re-read them against the new figures).
print(results.write(out, "\n".join(L) + "\n", "bench-ab.sh"))
PY
