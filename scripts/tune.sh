#!/usr/bin/env bash
# Kernel tuning for nines runs: show | apply | restore the settings in sysctl.conf.
#
#   scripts/tune.sh show      current value next to sysctl.conf's, and the open-files limits
#   scripts/tune.sh apply     (root) save the current values, then apply sysctl.conf; if any
#                             setting fails, every one already changed is put back: all or none
#   scripts/tune.sh restore   (root) put back exactly the values saved by apply
#
# env: NINES_SYSCTL=path (default: sysctl.conf beside scripts/), NINES_TUNE_STATE=path of the
#      saved values (default /var/tmp/nines-sysctl.saved), NINES_TUNE_ONLY=regex to limit the
#      keys (e.g. '^net\.' inside a network namespace, whose net.* settings are its own).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CONF=${NINES_SYSCTL:-$here/sysctl.conf}
STATE=${NINES_TUNE_STATE:-/var/tmp/nines-sysctl.saved}
ONLY=${NINES_TUNE_ONLY:-.}

die() { echo "tune.sh: $*" >&2; exit 1; }
need_root() { [[ $(id -u) == 0 ]] || die "refusing to $1: changing kernel settings needs root (run: sudo $0 $1); nothing was changed"; }
path_of() { echo "/proc/sys/${1//.//}"; }
norm() { tr -s ' \t' ' ' | sed 's/^ //; s/ $//'; }
# key<TAB>value for each setting in the file, filtered by NINES_TUNE_ONLY.
settings() {
  grep -v '^[[:space:]]*#' "$CONF" | grep '=' | while IFS='=' read -r k v; do
    k=$(echo "$k" | norm); v=$(echo "$v" | norm)
    [[ $k =~ $ONLY ]] && printf '%s\t%s\n' "$k" "$v"
  done
}
current() { norm <"$(path_of "$1")"; }
write() { printf '%s\n' "$2" >"$(path_of "$1")"; }

show() {
  [[ -f $CONF ]] || die "no $CONF"
  printf '%-32s %-28s %-28s %s\n' setting current sysctl.conf ""
  settings | while IFS=$'\t' read -r k v; do
    if [[ -r $(path_of "$k") ]]; then
      cur=$(current "$k"); mark=$([[ $cur == "$v" ]] && echo "ok" || echo "differs")
    else
      cur="(not on this kernel)"; mark=""
    fi
    printf '%-32s %-28s %-28s %s\n' "$k" "$cur" "$v" "$mark"
  done
  echo
  echo "open files (ulimit -n): soft $(ulimit -Sn), hard $(ulimit -Hn); kernel cap fs.nr_open $(cat /proc/sys/fs/nr_open)"
  echo "  nines and nines-server raise their soft limit to the hard limit themselves."
  echo "  To raise the hard limit for a shell (root): ulimit -Hn N && ulimit -Sn N (N <= fs.nr_open)."
  [[ -f $STATE ]] && echo "saved values from an earlier apply: $STATE (scripts/tune.sh restore puts them back)"
  return 0
}

apply() {
  need_root apply
  [[ -f $CONF ]] || die "no $CONF"
  [[ -e $STATE ]] && die "values from an earlier apply are still saved in $STATE; run restore first (or remove it if it is stale)"
  local tmp; tmp=$(mktemp)
  # Save every current value first; a key this kernel lacks is an error before anything changes.
  while IFS=$'\t' read -r k v; do
    [[ -w $(path_of "$k") ]] || { rm -f "$tmp"; die "cannot write $k on this kernel; nothing was changed"; }
    printf '%s\t%s\n' "$k" "$(current "$k")" >>"$tmp"
  done < <(settings)
  mv "$tmp" "$STATE"
  local done_keys=()
  while IFS=$'\t' read -r k v; do
    if ! write "$k" "$v" 2>/dev/null; then
      echo "tune.sh: setting $k = $v failed; putting back the ${#done_keys[@]} setting(s) already changed" >&2
      restore_from "$STATE" "${done_keys[@]}"
      rm -f "$STATE"
      die "nothing was changed"
    fi
    done_keys+=("$k")
  done < <(settings)
  echo "applied ${#done_keys[@]} setting(s); old values saved in $STATE (scripts/tune.sh restore)"
  ulimit -Hn "$(cat /proc/sys/fs/nr_open)" 2>/dev/null && ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
  echo "this script's own open-files limit is now $(ulimit -Sn); raise your shell's with: ulimit -n $(ulimit -Hn)"
}

# restore_from FILE [KEY...]: put back saved values (all, or only the keys named).
restore_from() {
  local file=$1; shift
  local failed=0
  while IFS=$'\t' read -r k v; do
    if (($#)); then [[ " $* " == *" $k "* ]] || continue; fi
    write "$k" "$v" 2>/dev/null || { echo "tune.sh: could not restore $k = $v" >&2; failed=1; }
  done <"$file"
  return $failed
}

restore() {
  need_root restore
  [[ -f $STATE ]] || { echo "nothing to restore: no saved values in $STATE"; return 0; }
  restore_from "$STATE" || die "some settings could not be restored; $STATE is kept"
  rm -f "$STATE"
  echo "restored the values saved by apply"
}

case "${1:-}" in
  show) show ;;
  apply) apply ;;
  restore) restore ;;
  *) echo "usage: $0 show|apply|restore" >&2; exit 2 ;;
esac
