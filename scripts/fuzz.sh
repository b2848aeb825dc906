#!/usr/bin/env bash
# Fuzz every parser nines has with libFuzzer (cargo fuzz), each for a bounded time.
#
# Targets are fuzz/fuzz_targets/*.rs; each calls one entry point of nines_driver::fuzzing
# (frame decoder, the server's request handling, the driver's codecs, node lines, result files,
# unit parsers). The corpus grows in fuzz/corpus/TARGET (not committed), started from
# fuzz/seeds/TARGET. An input that crashes a target is copied to fuzz/regressions/TARGET/,
# which `cargo test` replays (driver/tests/fuzz_entry.rs): fix the bug, keep the file, commit.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET=30] [TARGET...]   (default: every target)
# cargo fuzz needs nightly features; on a stable toolchain RUSTC_BOOTSTRAP=1 unlocks them.
# Exit status: 0 when no target crashed, 1 when one did (each crash named), 2 on bad usage.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECS=${1:-30}
[[ $SECS =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...] (seconds: a whole number > 0, not '$SECS')" >&2; exit 2; }
shift || true
mapfile -t ALL < <(ls fuzz_targets | sed 's/\.rs$//')
TARGETS=("${@:-${ALL[@]}}")
for t in "${TARGETS[@]}"; do
  [[ -f fuzz_targets/$t.rs ]] || { echo "no fuzz target '$t' (have: ${ALL[*]})" >&2; exit 2; }
done
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (once)" >&2
  cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
echo "building the fuzz targets" >&2
cargo fuzz build -O 2>&1 | grep -E '^error' -A5 >&2 && exit 1
failed=()
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  before=$(ls "artifacts/$t" | wc -l)
  log=$(mktemp)
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a leak or blow-up is a crash.
  if cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$SECS" -timeout=10 \
       -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
    echo "$t: ok, $runs inputs in ${SECS}s, coverage $cov edges, corpus $(ls "corpus/$t" | wc -l) files"
  else
    mkdir -p "regressions/$t"
    for a in $(ls "artifacts/$t" | tail -n +$((before + 1))); do
      cp "artifacts/$t/$a" "regressions/$t/$a"
      echo "$t: CRASH, input saved as fuzz/regressions/$t/$a" >&2
    done
    grep -m5 -E 'panicked|ERROR|SUMMARY' "$log" >&2 || tail -20 "$log" >&2
    failed+=("$t")
  fi
  rm -f "$log"
done
if (( ${#failed[@]} )); then
  echo "crashed: ${failed[*]}; reproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run -O TARGET fuzz/regressions/TARGET/FILE (in fuzz/)" >&2
  exit 1
fi
