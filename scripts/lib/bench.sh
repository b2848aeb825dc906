# Sourced by the benchmark scripts (after they cd to the repository root).

# need_pinning: server and load go on different CPUs (taskset), so both must be there.
need_pinning() {
  command -v taskset >/dev/null || { echo "taskset not found (apt-get install util-linux)" >&2; exit 1; }
  (( $(nproc) >= 2 )) || { echo "needs 2 CPUs to pin server and load apart" >&2; exit 1; }
}

# Another git revision checked out beside this tree, for A/B scripts.
# ab_worktree REV sets A_SHA (REV, short), B_SHA (this tree's HEAD, "-dirty" when changed) and
# WT (target/ab-worktree, a git worktree at REV, reused while it is at REV).
ab_worktree() {
  A_SHA=$(git rev-parse --short "$1")
  B_SHA="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo -dirty)"
  WT=target/ab-worktree
  if [[ ! -d $WT ]] || [[ $(git -C "$WT" rev-parse --short HEAD 2>/dev/null) != "$A_SHA" ]]; then
    git worktree remove --force "$WT" 2>/dev/null || rm -rf "$WT"
    git worktree add --detach "$WT" "$1" >/dev/null
  fi
}

# listening_addr FILE: waits (up to 5 s) for nines-server's "listening on ADDR" line in FILE,
# the server's stdout, and prints ADDR (nothing if the server never said it).
listening_addr() {
  for _ in $(seq 100); do grep -q 'listening on' "$1" 2>/dev/null && break; sleep 0.05; done
  sed -n 's/^nines-server listening on //p' "$1"
}
