#!/usr/bin/env bash
# Two "machines" on one: a server network namespace and a driver network namespace joined by a
# veth pair, each with its own sysctls, a benchmark across them, and everything removed after.
#
#   sudo scripts/netns-lab.sh [SECONDS=3] [-- extra nines bench flags]
#   env: DELAY=1ms (optional tc netem delay on the veth, both ways), LAB=nines (name prefix),
#        SERVER_SYSCTL="net.core.somaxconn=4096 ..." applied inside the server namespace.
#
# Traffic stays on this machine: the addresses (10.99.0.1 server, 10.99.0.2 driver) exist only
# inside the two namespaces this script creates and deletes.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-3}
shift || true
[[ ${1:-} == -- ]] && shift
LAB=${LAB:-nines}
SRV=$LAB-srv DRV=$LAB-drv
SRV_IP=10.99.0.1 DRV_IP=10.99.0.2
source scripts/lib/netns.sh

cleanup() {
  [[ -n ${SPID:-} ]] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
  netns_del "$SRV" "$DRV"
}
trap cleanup EXIT
netns_pair "$SRV" "$DRV" "$SRV_IP" "$DRV_IP" "$LAB"
if [[ -n ${DELAY:-} ]]; then
  ip netns exec "$SRV" tc qdisc add dev "$LAB-s" root netem delay "$DELAY"
  ip netns exec "$DRV" tc qdisc add dev "$LAB-d" root netem delay "$DELAY"
fi
for kv in ${SERVER_SYSCTL:-}; do ip netns exec "$SRV" sysctl -q -w "$kv"; done

BIN=${NINES_BIN:-target/release}
[[ -x $BIN/nines && -x $BIN/nines-server ]] || cargo build --release --quiet --bin nines --bin nines-server
OUTF=$(mktemp)
ip netns exec "$SRV" "$BIN/nines-server" --bind "$SRV_IP" --port 0 --workers 1 >"$OUTF" 2>/dev/null &
SPID=$!
for _ in $(seq 100); do [[ -s $OUTF ]] && break; sleep 0.05; done
ADDR=$(head -1 "$OUTF" | awk '{print $NF}')
rm -f "$OUTF"
[[ -n $ADDR ]] || { echo "netns-lab.sh: server did not start" >&2; exit 1; }
echo "netns-lab: server $ADDR in namespace $SRV, driver in $DRV${DELAY:+, netem delay $DELAY each way}" >&2
ip netns exec "$DRV" "$BIN/nines" bench "$ADDR" -d "${SECS}s" -w 1s -c 16 --threads 1 -q "$@"
