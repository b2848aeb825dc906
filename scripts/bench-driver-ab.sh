#!/usr/bin/env bash
# Driver A/B: the nines driver at another git revision (A) against the working tree's (B), in
# one run, so a change to the driver is judged by ratios measured side by side, never against
# figures from another day. Writes docs/results/driver-ab.md.
#
# Both drivers load the same nines-server (this tree's, --protocol echo --workers 1) pinned to
# CPU 0, from CPU 1, in interleaved rounds (A first in odd rounds, B first in even): closed loop (throughput, p99, driver CPU per
# request) and open loop at a fixed rate (corrected p99 and the driver's schedule lag).
#
# Usage: scripts/bench-driver-ab.sh [REV_A=HEAD~1] [ROUNDS=5] [SECONDS=3]
#        env: CONNS=64 RATE=50000 OUT=docs/results/driver-ab.md
# Loopback only; every load is bounded by SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
REV_A=${1:-HEAD~1}
ROUNDS=${2:-5}
SECS=${3:-3}
CONNS=${CONNS:-64}
RATE=${RATE:-50000}
OUT=${OUT:-docs/results/driver-ab.md}
command -v taskset >/dev/null || { echo "taskset not found (apt-get install util-linux)" >&2; exit 1; }
(( $(nproc) >= 2 )) || { echo "needs 2 CPUs to pin server and load apart" >&2; exit 1; }

A_SHA=$(git rev-parse --short "$REV_A")
B_SHA="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo -dirty)"
WT=target/ab-worktree
if [[ ! -d $WT ]] || [[ $(git -C "$WT" rev-parse --short HEAD 2>/dev/null) != "$A_SHA" ]]; then
  git worktree remove --force "$WT" 2>/dev/null || rm -rf "$WT"
  git worktree add --detach "$WT" "$REV_A" >/dev/null
fi
echo "building A ($A_SHA) and B ($B_SHA)" >&2
(cd "$WT" && cargo build --release --quiet --bin nines)
cargo build --release --quiet --bin nines --bin nines-server
declare -A DRIVER=([A]="$WT/target/release/nines" [B]="target/release/nines")
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

taskset -c 0 target/release/nines-server --port 0 --protocol echo --workers 1 >"$TMP/port" 2>/dev/null &
for _ in $(seq 100); do [[ -s $TMP/port ]] && break; sleep 0.05; done
PORT=$(head -1 "$TMP/port" | sed 's/.*://')
[[ -n $PORT ]] || { echo "server did not start" >&2; exit 1; }

echo "round,driver,load,rps,p99_us,lag_p99_us,driver_cpu_us_per_req" >"$TMP/raw.csv"
for round in $(seq "$ROUNDS"); do
  # Alternate which driver goes first, so drift during a round cannot favour one side.
  order=(A B); (( round % 2 == 0 )) && order=(B A)
  for d in "${order[@]}"; do
    for load in closed open; do
      extra=(); [[ $load == open ]] && extra=(--rate "$RATE")
      /usr/bin/time -f "%U %S" -o "$TMP/time" taskset -c 1 "${DRIVER[$d]}" bench "127.0.0.1:$PORT" \
        --protocol echo -c "$CONNS" --threads 1 -d "${SECS}s" -w 1s -q "${extra[@]}" --json "$TMP/r.json" >/dev/null || true
      python3 - "$TMP/r.json" "$TMP/time" "$round" "$d" "$load" >>"$TMP/raw.csv" <<'PY'
import json, sys
f, t, rnd, d, load = sys.argv[1:]
r = json.load(open(f)); cpu = sum(map(float, open(t).read().split()))
lag = (r.get("open_loop") or {}).get("schedule_lag_us") or {}
answered = r["requests"] + (r.get("warmup") or {}).get("requests", 0)
print(f"{rnd},{d},{load},{r['throughput_rps']:.0f},{r['latency_us']['p99']},{lag.get('p99', '')},{cpu * 1e6 / max(answered, 1):.3f}")
PY
      echo "round $round driver $d $load done" >&2
    done
  done
done

python3 - "$TMP/raw.csv" "$OUT" "$REV_A" "$A_SHA" "$B_SHA" "$ROUNDS" "$SECS" "$CONNS" "$RATE" <<'PY'
import csv, datetime, os, platform, statistics, subprocess, sys
raw, out, rev_a, a_sha, b_sha, rounds, secs, conns, rate = sys.argv[1:]
rows = list(csv.DictReader(open(raw)))
def med(d, load, key):
    v = [float(r[key]) for r in rows if r["driver"] == d and r["load"] == load and r[key]]
    return statistics.median(v) if v else float("nan")
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
L = ["# Driver A/B: before and after a driver change, measured side by side\n",
     f"- Date: {datetime.date.today().isoformat()}",
     f"- Machine: {os.cpu_count()} cores ({cpu}), kernel {platform.release()}",
     f"- Command: `scripts/bench-driver-ab.sh {rev_a} {rounds} {secs}` (CONNS={conns} RATE={rate})",
     f"- A = `{a_sha}` ({rev_a}), B = `{b_sha}` (this tree). Both load one nines-server "
     f"(--protocol echo --workers 1) pinned to CPU 0 from CPU 1, {conns} connections, 64-byte "
     f"echo, 1 driver thread, {rounds} interleaved rounds of {secs} s (+1 s warm-up); medians.\n",
     "| load | figure | A | B | B / A |", "|---|---|---:|---:|---:|"]
for load, figs in [("closed", [("rps", "throughput req/s"), ("p99_us", "p99 µs"), ("driver_cpu_us_per_req", "driver CPU µs per reply")]),
                   ("open", [("p99_us", f"corrected p99 µs at {int(rate):,}/s"), ("lag_p99_us", "schedule lag p99 µs"), ("driver_cpu_us_per_req", "driver CPU µs per reply")])]:
    for key, name in figs:
        a, b = med("A", load, key), med("B", load, key)
        L.append(f"| {load} loop | {name} | {a:,.2f} | {b:,.2f} | {b / a:.3f} |")
L += ["\n## Raw rounds\n", "| round | driver | load | req/s | p99 µs | lag p99 µs | driver CPU µs/reply |", "|---|---|---|---:|---:|---:|---:|"]
for r in rows:
    L.append(f"| {r['round']} | {r['driver']} | {r['load']} | {float(r['rps']):,.0f} | {r['p99_us']} | {r['lag_p99_us']} | {r['driver_cpu_us_per_req']} |")
body = "\n".join(L) + "\n"
marker = "<!-- notes: kept by bench-driver-ab.sh -->"
if os.path.exists(out) and marker in open(out).read():
    body += "\n" + marker + open(out).read().split(marker, 1)[1]
open(out + ".tmp", "w").write(body)
os.replace(out + ".tmp", out)
print(body)
PY
