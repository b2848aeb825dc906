# Sourced by scripts that put the server and the driver in two network namespaces joined by a
# veth pair (two "machines" on one; traffic never leaves them). Needs root and ip(8).

# netns_pair SRV DRV SRV_IP DRV_IP LINK: creates namespaces SRV and DRV (removing old ones of
# those names), joined by veth LINK-s (in SRV, SRV_IP/24) and LINK-d (in DRV, DRV_IP/24).
netns_pair() {
  local srv=$1 drv=$2 srv_ip=$3 drv_ip=$4 link=$5
  [[ $(id -u) == 0 ]] || { echo "$(basename "$0"): needs root to create network namespaces (sudo $0)" >&2; exit 1; }
  command -v ip >/dev/null || { echo "$(basename "$0"): needs ip(8) from iproute2 (apt-get install iproute2)" >&2; exit 1; }
  netns_del "$srv" "$drv"
  ip netns add "$srv"
  ip netns add "$drv"
  ip link add "$link-s" type veth peer name "$link-d"
  ip link set "$link-s" netns "$srv"
  ip link set "$link-d" netns "$drv"
  ip -n "$srv" addr add "$srv_ip/24" dev "$link-s"
  ip -n "$drv" addr add "$drv_ip/24" dev "$link-d"
  for ns in "$srv" "$drv"; do ip -n "$ns" link set lo up; done
  ip -n "$srv" link set "$link-s" up
  ip -n "$drv" link set "$link-d" up
}

# netns_del NS...: removes the namespaces (and with them the veth pair), if they exist.
netns_del() {
  for ns in "$@"; do ip netns del "$ns" 2>/dev/null || true; done
}
