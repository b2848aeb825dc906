#!/usr/bin/env bash
# The test command (README): install what the tests need on a fresh machine, then run them all.
#
# Tests start real processes on 127.0.0.1 only: nines-server, and (for the HTTP, Redis and
# WebSocket targets, plain and TLS) nginx, redis-server and a python3-websockets echo server,
# and Linux perf sampling nines-server for its flame graph,
# with the TLS clients nines did not write (curl, openssl s_client, redis-cli) checking them;
# all installed here with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*"; }

install_missing_packages() {
    local pkgs=()
    command -v nginx >/dev/null 2>&1 || pkgs+=(nginx-light)
    command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
    # Independent TLS clients for the TLS peers (driver/tests/tls_peers.rs) and nines-server.
    command -v redis-cli >/dev/null 2>&1 || pkgs+=(redis-tools)
    command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
    command -v curl >/dev/null 2>&1 || pkgs+=(curl)
    # System CA roots: nines verifies TLS servers against them by default, and a test checks
    # what it says about a certificate none of them signed.
    [[ -s /etc/ssl/certs/ca-certificates.crt ]] || pkgs+=(ca-certificates)
    # A WebSocket implementation nines did not write, for the interop tests (Debian's python3).
    /usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || pkgs+=(python3-websockets)
    # Linux perf, which `--flame` drives (driver/tests/flame.rs samples a real nines-server).
    command -v perf >/dev/null 2>&1 || pkgs+=(linux-perf)
    ((${#pkgs[@]})) || return 0
    if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        log "not root or no apt-get: cannot install ${pkgs[*]}; tests that need them will say so"
        return 0
    fi
    log "installing ${pkgs[*]} (apt-get)"
    # Packages must not start their own services: tests start and stop their own instances.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
    fi
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; }; then
        log "warning: could not install ${pkgs[*]}; tests that need them will say so"
    fi
    ((created_policy)) && rm -f "$policy"
    return 0
}

install_missing_packages

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust (https://rustup.rs) and rerun" >&2
    exit 1
fi

log "building (crates come from crates.io via Cargo.lock)"
cargo build --workspace --all-targets --all-features --locked

log "module layers: no import circles in any crate (scripts/layers.py)"
python3 scripts/layers.py --check

# Tests that need root (network namespaces, sysctls) are #[ignore = "needs root"]: run them
# when root, and say so when not, rather than passing them silently.
ignored=()
if [[ $(id -u) == 0 ]]; then
    ignored=(--include-ignored)
else
    log "not root: the tests marked #[ignore = \"needs root\"] are skipped (cargo test lists them)"
fi
log "cargo test --workspace --all-features (both server models)"
cargo test --workspace --all-features --locked -- "${ignored[@]}"

if cargo fmt --version >/dev/null 2>&1; then
    log "cargo fmt --check"
    cargo fmt --all --check
fi
if cargo clippy --version >/dev/null 2>&1; then
    log "cargo clippy"
    cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
    # The thread-per-connection server built alone (as scripts/bench-compare.sh builds it).
    cargo clippy -p nines-server --no-default-features --features thread-per-connection \
        --locked -- -D warnings
fi
log "all checks passed"
