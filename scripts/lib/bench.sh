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

# install_missing PACKAGE...: installs them with apt-get when root; otherwise exits naming them.
install_missing() {
  (($#)) || return 0
  [[ $(id -u) == 0 ]] || { echo "missing: $* (install them, or run as root)" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# need_programs PROGRAM:PACKAGES...: installs the packages of the programs not on PATH (as above).
need_programs() {
  local missing=() p
  # PACKAGES unquoted: one program may need several, space-separated.
  for p in "$@"; do command -v "${p%%:*}" >/dev/null || missing+=(${p#*:}); done
  install_missing "${missing[@]}"
}

# --- Shared by the scripts that load real servers (bench-peers.sh, bench-tls.sh); they set TMP.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "nothing listens on $1" >&2; exit 1; }
# CPU seconds (user+sys) of a process and its children/threads, from /proc.
cpu_of() { local t=0; for p in "$@"; do t=$(awk -v t="$t" '{print t+($14+$15)/100}' "/proc/$p/stat"); done; echo "$t"; }
# Runs a load command pinned to CPU 1: its stdout to $TMP/load_cpu.out, its own CPU seconds
# (rusage) to $TMP/load_cpu, its wall-clock seconds to $TMP/load_cpu.wall.
load() { python3 -c 'import resource,subprocess,sys,time
t0=time.monotonic()
subprocess.run(["taskset","-c","1"]+sys.argv[2:],check=True,stdout=open(sys.argv[1]+".out","w"))
open(sys.argv[1]+".wall","w").write(str(time.monotonic()-t0))
r=resource.getrusage(resource.RUSAGE_CHILDREN); open(sys.argv[1],"w").write(str(r.ru_utime+r.ru_stime))' "$TMP/load_cpu" "$@"; }
# wrk's summary: requests/s, p99 (µs, with --latency), total requests, non-2xx/3xx replies.
wrk_out() { python3 - "$1" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
total = int(re.search(r"(\d+) requests in", t).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
p99 = float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)] if m else float("nan")
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(rps, p99, total, int(errs.group(1)) if errs else 0)
PY
}
nines_json() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["throughput_rps"], r["latency_us"]["p99"], r["requests"]+r["warmup"]["requests"], r["errors"])' "$1"; }
# µs of CPU per operation: the load's (rusage, from load) and the server's (/proc delta $1 -> $2)
# over $3 operations.
per_op() { python3 -c "print(f'{$(cat "$TMP/load_cpu")*1e6/$3},{($2-$1)*1e6/$3}')"; }

# http_load ROUND TEST LABEL TOOL URL "PIDS" [NINES FLAGS...]: TOOL (nines or wrk) loads URL in
# closed loop for SECS s over CONNS connections from one thread on CPU 1; appends to $TMP/raw.csv
# the row round,test,label,requests/s,p99 µs,load CPU µs/request,server CPU µs/request (PIDS),
# errors. LABEL names what is compared: the load tool, or the server under a fixed one.
http_load() {
  local round=$1 test=$2 label=$3 tool=$4 url=$5 pids=$6 c0 c1 rps p99 reqs errs; shift 6
  c0=$(cpu_of $pids)
  if [[ $tool == nines ]]; then
    load "$BIN/nines" bench "$url" "$@" -c "$CONNS" -t 1 -d "${SECS}s" -w 1s -q --json "$TMP/n.json"
    read -r rps p99 reqs errs < <(nines_json "$TMP/n.json")
  else
    load wrk -t1 -c "$CONNS" -d "${SECS}s" --latency "$url"
    read -r rps p99 reqs errs < <(wrk_out "$TMP/load_cpu.out")
  fi
  c1=$(cpu_of $pids)
  echo "$round,$test,$label,$rps,$p99,$(per_op "$c0" "$c1" "$reqs"),$errs" >>"$TMP/raw.csv"
}

# start_nginx PORT [CERT KEY]: nginx, 1 worker pinned to CPU 0, `/` answering "Hello, World!"
# over keep-alive (no request limit), files under $TMP/nginx; sets NGINX (master's pid). With a
# certificate and key (PEM) it speaks TLS 1.2/1.3 with a session cache and tickets.
start_nginx() {
  local port=$1 d=$TMP/nginx ssl="" tls=""; mkdir -p "$d/logs"
  if (($# == 3)); then
    ssl=" ssl"
    tls="ssl_certificate $2; ssl_certificate_key $3; ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m; ssl_session_tickets on;"
  fi
  cat >"$d/nginx.conf" <<CONF
worker_processes 1;
daemon off;
error_log $d/logs/error.log;
pid $d/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path $d/body; proxy_temp_path $d/proxy; fastcgi_temp_path $d/fcgi;
  uwsgi_temp_path $d/uwsgi; scgi_temp_path $d/scgi;
  server {
    listen 127.0.0.1:$port$ssl reuseport;
    $tls
    location / { return 200 "Hello, World!"; }
  }
}
CONF
  taskset -c 0 nginx -p "$d" -c "$d/nginx.conf" 2>/dev/null &
  NGINX=$!
  wait_port "$port"
  # The master listens before it forks its worker: wait for the worker, whose CPU and memory count.
  for _ in $(seq 100); do pgrep -P "$NGINX" >/dev/null && break; sleep 0.05; done
}
stop_nginx() { kill -QUIT "$NGINX" 2>/dev/null; wait "$NGINX" 2>/dev/null || true; }
nginx_pids() { echo "$NGINX $(pgrep -P "$NGINX" | tr '\n' ' ')"; }

# make_certs DIR: a CA and a server certificate it signs for localhost and 127.0.0.1 (ECDSA
# P-256, what a production HTTPS service most often presents), in DIR only (a temp dir): no key
# is ever committed. Sets CA, CERT and KEY.
make_certs() {
  local d=$1; mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=nines bench CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$d/ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/ext" -out "$d/server.pem" 2>/dev/null
  CA=$d/ca.pem CERT=$d/server.pem KEY=$d/server.key
}
