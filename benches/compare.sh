#!/usr/bin/env bash
# Side-by-side benchmark of mtlsd and the proxies a user would pick instead, in one run:
# one PKI (ECDSA P-256, made with tenantctl: CA, server certificate, one tenant with a client
# certificate and a gateway route), one plain backend (`mtls-load backend`, TCP echo and
# HTTP), and one target after another: mtlsd server mode (TCP), mtlsd gateway mode (HTTP),
# nginx stream and http (`ssl_verify_client on`), HAProxy tcp and http (`verify required`)
# and stunnel (server mode). Each proxy runs alone on core 0 (`taskset -c 0`), the load tool
# and the backend on core 1. Writes the raw JSON lines to docs/benchmarks/raw-<date>.jsonl,
# then docs/benchmarks.md and a plot through benches/report/report.py.
#
# Options (environment):
#   RUNS=3            runs of every test; the report quotes medians
#   QUICK=1           short durations and small counts: a check that everything works
#   TARGETS="..."     a subset of: mtlsd-server mtlsd-gateway nginx-stream nginx-http
#                     haproxy-tcp haproxy-http stunnel
#   OUT=docs/benchmarks.md
#   DURATION=10       seconds per timed test (QUICK: 2)
#   IDLE_CONNS=1000   connections held by the idle test (QUICK: 200)
#   BULK_MB=64        MiB per transfer of the bulk test, transfers repeated for DURATION (QUICK: 16)
#   HS_CONNS=8        concurrent handshake workers; RR_CONNS=64; RR_SIZE=64
#   PROXY_CORE=0 LOAD_CORE=1   cores for the proxy and for the load tool + backend
#   BASE_PORT=18400   ports BASE_PORT..BASE_PORT+2 on 127.0.0.1
#   NO_INSTALL=1      never apt-get: skip targets whose peer is missing
#   BUILD=0           use the binaries already in $BIN (default target/release) and
#                     MTLS_LOAD (default $BIN/mtls-load) instead of building them
#   KEEP=1            keep the temporary folder (configs, logs) for a look afterwards
#
# Loopback only; every test is bounded in time (and count); every process this script
# starts is killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=${RUNS:-3}
QUICK=${QUICK:-0}
ALL_TARGETS="mtlsd-server mtlsd-gateway nginx-stream nginx-http haproxy-tcp haproxy-http stunnel"
TARGETS=${TARGETS:-$ALL_TARGETS}
OUT=${OUT:-docs/benchmarks.md}
if [ "$QUICK" = 1 ]; then
  DURATION=${DURATION:-2}; IDLE_CONNS=${IDLE_CONNS:-200}; BULK_MB=${BULK_MB:-16}
  WARMUP=${WARMUP:-0.5}; IDLE_HOLD=${IDLE_HOLD:-2}
else
  DURATION=${DURATION:-10}; IDLE_CONNS=${IDLE_CONNS:-1000}; BULK_MB=${BULK_MB:-64}
  WARMUP=${WARMUP:-1}; IDLE_HOLD=${IDLE_HOLD:-4}
fi
HS_CONNS=${HS_CONNS:-8}
RR_CONNS=${RR_CONNS:-64}
RR_SIZE=${RR_SIZE:-64}
PROXY_CORE=${PROXY_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
BASE_PORT=${BASE_PORT:-18400}
TCP_PORT=$BASE_PORT
HTTP_PORT=$((BASE_PORT + 1))
PROXY_PORT=$((BASE_PORT + 2))
MAX_CONNS=$((IDLE_CONNS + 512))
PEERS=$ROOT/benches/peers
BIN=${BIN:-$ROOT/target/release}
LOAD=${MTLS_LOAD:-$BIN/mtls-load}

for t in $TARGETS; do
  case " $ALL_TARGETS " in *" $t "*) ;; *) echo "compare.sh: unknown target $t (known: $ALL_TARGETS)" >&2; exit 2 ;; esac
done
[ "$(nproc --all)" -ge 2 ] || { echo "compare.sh: needs at least 2 cores" >&2; exit 2; }

WORK=$(mktemp -d /tmp/mtls-compare.XXXXXX)
PIDS=()
# Still running and still our child (a pid of a process that ended may have been reused).
ours() { [ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ]; }
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    ours "$pid" && kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 0.3
  for pid in "${PIDS[@]}"; do
    ours "$pid" && kill -KILL "$pid" 2>/dev/null || true
  done
  [ "${KEEP:-0}" = 1 ] && echo "compare.sh: kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "compare.sh: $*" >&2; }

# == file descriptors: the idle test holds IDLE_CONNS connections (two sockets each in a
# proxy, one in the load tool)
need_fds=$((IDLE_CONNS * 2 + 1024))
if [ "$(ulimit -n)" -lt "$need_fds" ]; then
  ulimit -n "$need_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
if [ "$(ulimit -n)" -lt "$need_fds" ]; then
  IDLE_CONNS=$(( ($(ulimit -n) - 1024) / 2 ))
  MAX_CONNS=$((IDLE_CONNS + 512))
  log "open-file limit $(ulimit -n): idle test lowered to $IDLE_CONNS connections"
fi

# == peers from Debian packages, installed only when missing
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"; else return 1; fi
}
APT_UPDATED=0
install_pkg() {
  [ "${NO_INSTALL:-0}" = 1 ] && return 1
  if [ "$APT_UPDATED" = 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    APT_UPDATED=1
  fi
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
NGINX_STREAM_SO=/usr/lib/nginx/modules/ngx_stream_module.so
has_peer() {
  case $1 in
    mtlsd-*) return 0 ;;
    nginx-http) command -v nginx >/dev/null ;;
    nginx-stream) command -v nginx >/dev/null && [ -f "$NGINX_STREAM_SO" ] ;;
    haproxy-*) command -v haproxy >/dev/null ;;
    stunnel) command -v stunnel4 >/dev/null || command -v stunnel >/dev/null ;;
  esac
}
ensure_peer() {
  has_peer "$1" && return 0
  case $1 in
    # nginx-light is the smallest Debian nginx; its stream module is the separate
    # libnginx-mod-stream package (the nginx binary is built with --with-stream=dynamic).
    nginx-http) install_pkg nginx-light || true ;;
    nginx-stream) command -v nginx >/dev/null || install_pkg nginx-light || true
                  [ -f "$NGINX_STREAM_SO" ] || install_pkg libnginx-mod-stream || true ;;
    haproxy-*) install_pkg haproxy || true ;;
    stunnel) install_pkg stunnel4 || true ;;
  esac
  has_peer "$1"
}
RUN_TARGETS=
for t in $TARGETS; do
  if ensure_peer "$t"; then RUN_TARGETS="$RUN_TARGETS $t"; else log "skipping $t: not installed and cannot install"; fi
done
command -v gnuplot >/dev/null || install_pkg gnuplot-nox || log "gnuplot missing: the report will have no plot"
STUNNEL=$(command -v stunnel4 || command -v stunnel || true)
# Debian's packages start services on install: they are not used (own ports, own configs).

# == binaries (release: the numbers are about the optimised build)
if [ "${BUILD:-1}" = 1 ]; then
  log "building release mtlsd, tenantctl, mtls-load"
  cargo build --quiet --release --locked -p mtlsd -p tenantctl -p mtls-load
fi

# == PKI and registry: ECDSA P-256 CA, server certificate, one tenant, one client cert
export MTLS_DATA_DIR=$WORK/data
T=$BIN/tenantctl
$T init --trust-domain bench.mtls.local --algorithm p256 >/dev/null
$T tenant create bench --name "Bench tenant" >/dev/null
$T cert issue bench --out "$WORK/client" >/dev/null
$T route add bench http --host localhost --path / --upstream "http://127.0.0.1:$HTTP_PORT" --allow-private >/dev/null
SERVER_CERT=$WORK/data/server/cert.pem
SERVER_KEY=$WORK/data/server/key.pem
CA=$WORK/data/ca.pem
SERVER_PEM=$WORK/server-combined.pem   # HAProxy: certificate and key in one file
cat "$SERVER_CERT" "$SERVER_KEY" > "$SERVER_PEM"
chmod 600 "$SERVER_PEM"
mkdir -p "$WORK/nginx-tmp"
chmod 777 "$WORK/nginx-tmp"   # nginx workers run as nobody when started as root
chmod 755 "$WORK"
TLS_ARGS=(--cert "$WORK/client/cert.pem" --key "$WORK/client/key.pem" --ca "$CA" --server-name localhost)

# == helpers
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # PORT PID: up to 10 s for a listener
  local i
  for i in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
wait_gone() { # PID: up to 5 s, then KILL
  local i
  for i in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}
for p in $TCP_PORT $HTTP_PORT $PROXY_PORT; do
  port_free "$p" || { log "port $p on 127.0.0.1 is in use (set BASE_PORT)"; exit 2; }
done

# `fill TEMPLATE OUTPUT KEY=VALUE...`: copy a template, replacing @KEY@ by VALUE.
fill() {
  local tmpl=$1 out=$2 kv
  shift 2
  cp "$tmpl" "$out"
  for kv in "$@"; do
    local key=${kv%%=*} val=${kv#*=}
    val=${val//\\/\\\\}; val=${val//|/\\|}; val=${val//&/\\&}; val=${val//$'\n'/\\n}
    sed -i "s|@$key@|$val|g" "$out"
  done
  if grep -q '@[A-Z_]*@' "$out"; then log "unfilled placeholder in $out"; exit 1; fi
}

# == backend: one plain backend for every target, on the load core. `mtls-load backend`
# stops by itself after its --duration (capped at 600 s), so it is (re)started whenever it
# is not running, before every target.
BACKEND_TCP_PID=
BACKEND_HTTP_PID=
start_backend() { # PROTO PORT: prints the pid
  taskset -c "$LOAD_CORE" "$LOAD" backend --listen "127.0.0.1:$2" --proto "$1" --duration 600 \
    >>"$WORK/backend-$1.out" 2>>"$WORK/backend-$1.log" &
  local pid=$!
  PIDS+=("$pid")
  if ! wait_port "$2" "$pid"; then
    log "$1 backend did not start:"; tail -n 5 "$WORK/backend-$1.log" >&2; exit 1
  fi
  LAST_PID=$pid
}
ensure_backends() {
  if [ -z "$BACKEND_TCP_PID" ] || ! kill -0 "$BACKEND_TCP_PID" 2>/dev/null; then
    start_backend tcp "$TCP_PORT"; BACKEND_TCP_PID=$LAST_PID
  fi
  if [ -z "$BACKEND_HTTP_PID" ] || ! kill -0 "$BACKEND_HTTP_PID" 2>/dev/null; then
    start_backend http "$HTTP_PORT"; BACKEND_HTTP_PID=$LAST_PID
  fi
}
ensure_backends

# == the proxy under test
PROXY_PID=
proxy_pids() { # the proxy's processes: master and workers for nginx and HAProxy
  local pids="$PROXY_PID" child
  for child in $(pgrep -P "$PROXY_PID" 2>/dev/null || true); do pids="$pids $child"; done
  echo "$pids"
}
# `start_proxy TARGET full|resume`
start_proxy() {
  local target=$1 variant=$2 conf lifetime tickets cache hap_cache hap_tickets stunnel_session
  if [ "$variant" = full ]; then
    lifetime=0s; tickets=off; cache=off; hap_cache=0; hap_tickets=no-tls-tickets
    stunnel_session=$'options = NO_TICKET\nsessionCacheSize = 1'
  else
    lifetime=1h; tickets=on; cache=shared:SSL:32m; hap_cache=20000; hap_tickets=
    stunnel_session='sessionCacheSize = 20000'
  fi
  local common=(WORK="$WORK" PORT="$PROXY_PORT" BACKEND_TCP="$TCP_PORT" BACKEND_HTTP="$HTTP_PORT"
    SERVER_CERT="$SERVER_CERT" SERVER_KEY="$SERVER_KEY" SERVER_PEM="$SERVER_PEM" CA="$CA"
    DATA_DIR="$WORK/data" MAX_CONNS="$MAX_CONNS" NOFILE="$(ulimit -n)" SESSION_LIFETIME="$lifetime"
    LOG_LEVEL="${MTLSD_LOG_LEVEL:-info}" TICKETS_ONOFF="$tickets" NGINX_CACHE="$cache"
    HAPROXY_CACHESIZE="$hap_cache" HAPROXY_TICKETS="$hap_tickets" STUNNEL_SESSION="$stunnel_session")
  local out=$WORK/$target.out err=$WORK/$target.log
  case $target in
    mtlsd-server|mtlsd-gateway)
      conf=$WORK/$target.toml
      fill "$PEERS/$target.toml.tmpl" "$conf" "${common[@]}"
      taskset -c "$PROXY_CORE" "$BIN/mtlsd" --config "$conf" >"$out" 2>"$err" & ;;
    nginx-stream|nginx-http)
      conf=$WORK/$target.conf
      fill "$PEERS/$target.conf.tmpl" "$conf" "${common[@]}"
      taskset -c "$PROXY_CORE" nginx -c "$conf" -p "$WORK" -e "$WORK/nginx-error.log" >"$out" 2>"$err" & ;;
    haproxy-tcp|haproxy-http)
      conf=$WORK/$target.cfg
      fill "$PEERS/$target.cfg.tmpl" "$conf" "${common[@]}"
      taskset -c "$PROXY_CORE" haproxy -db -f "$conf" >"$out" 2>"$err" & ;;
    stunnel)
      conf=$WORK/stunnel.conf
      fill "$PEERS/stunnel.conf.tmpl" "$conf" "${common[@]}"
      taskset -c "$PROXY_CORE" "$STUNNEL" "$conf" >"$out" 2>"$err" & ;;
  esac
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  if ! wait_port "$PROXY_PORT" "$PROXY_PID"; then
    log "$target ($variant) did not start:"; tail -n 20 "$err" "$WORK"/*error.log 2>/dev/null >&2 || true
    stop_proxy; return 1
  fi
  sleep 0.3   # nginx/HAProxy workers forked, mtlsd's registry view loaded
}
stop_proxy() {
  [ -n "$PROXY_PID" ] || return 0
  local pid
  for pid in $(proxy_pids); do kill -TERM "$pid" 2>/dev/null || true; done
  wait_gone "$PROXY_PID"
  wait "$PROXY_PID" 2>/dev/null || true
  PROXY_PID=
  local i
  for i in $(seq 1 50); do port_free "$PROXY_PORT" && return 0; sleep 0.1; done
}

RAW_DIR=$(dirname "$OUT")/benchmarks
mkdir -p "$RAW_DIR"
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
RAW=$RAW_DIR/raw-$STAMP.jsonl
: > "$RAW"
FAILED=0
# `load TARGET TEST RUN ARGS...`: one mtls-load run on the load core, its JSON line kept
# with the label "TARGET|TEST|RUN".
load() {
  local target=$1 test=$2 run=$3 pid_args=() p line
  shift 3
  if [ -n "$PROXY_PID" ]; then for p in $(proxy_pids); do pid_args+=(--pid "$p"); done; fi
  if line=$(taskset -c "$LOAD_CORE" timeout 400 "$LOAD" "$@" --label "$target|$test|$run" \
      "${pid_args[@]}" 2>>"$WORK/load.log"); then
    echo "$line" | grep '^{' >> "$RAW" || { log "$target $test: no JSON line"; FAILED=$((FAILED + 1)); }
  else
    log "$target $test run $run failed (see below)"; tail -n 3 "$WORK/load.log" >&2
    FAILED=$((FAILED + 1))
  fi
}
timed=(--duration "$DURATION" --warmup "$WARMUP")

is_http() { case $1 in mtlsd-gateway|nginx-http|haproxy-http) return 0 ;; *) return 1 ;; esac; }
resumes() { return 0; }   # every target here resumes TLS 1.3 sessions when tickets are on

run_target() {
  local target=$1 run=$2 conn req proto
  local target_args=(--connect "127.0.0.1:$PROXY_PORT" "${TLS_ARGS[@]}")
  if is_http "$target"; then
    req=(--request http --host localhost --path /); proto=http
  else
    req=(--request echo); proto=tcp
  fi
  log "run $run/$RUNS: $target"
  ensure_backends
  start_proxy "$target" full || { FAILED=$((FAILED + 1)); return 0; }
  # Full handshakes with X25519 (what every peer here negotiates), then for mtlsd its
  # default (X25519MLKEM768 first) and ML-KEM only.
  load "$target" handshake_x25519 "$run" handshake --conns "$HS_CONNS" "${req[@]}" --kx x25519 "${target_args[@]}" "${timed[@]}"
  case $target in mtlsd-*)
    load "$target" handshake_mlkem "$run" handshake --conns "$HS_CONNS" "${req[@]}" --kx mlkem "${target_args[@]}" "${timed[@]}" ;;
  esac
  if [ "$proto" = http ]; then
    load "$target" rr_http1 "$run" rr --proto http1 --host localhost --conns "$RR_CONNS" --size "$RR_SIZE" "${target_args[@]}" "${timed[@]}"
    case $target in mtlsd-gateway|nginx-http|haproxy-http)
      load "$target" rr_h2 "$run" rr --proto h2 --host localhost --conns "$RR_CONNS" --size "$RR_SIZE" "${target_args[@]}" "${timed[@]}" ;;
    esac
  else
    load "$target" rr_tcp "$run" rr --proto tcp --conns "$RR_CONNS" --size "$RR_SIZE" "${target_args[@]}" "${timed[@]}"
  fi
  if [ "$proto" = http ]; then
    load "$target" bulk "$run" bulk --proto http --host localhost --mb "$BULK_MB" "${target_args[@]}" --duration "$DURATION" --warmup 0
  else
    load "$target" bulk "$run" bulk --proto tcp --mb "$BULK_MB" "${target_args[@]}" --duration "$DURATION" --warmup 0
  fi
  if [ "$proto" = http ]; then
    load "$target" idle "$run" idle --conns "$IDLE_CONNS" --hold "$IDLE_HOLD" --request http --host localhost --path / "${target_args[@]}" --duration 120 --warmup 0
  else
    load "$target" idle "$run" idle --conns "$IDLE_CONNS" --hold "$IDLE_HOLD" "${target_args[@]}" --duration 120 --warmup 0
  fi
  stop_proxy
  if resumes "$target"; then
    start_proxy "$target" resume || { FAILED=$((FAILED + 1)); return 0; }
    load "$target" handshake_resume "$run" handshake --conns "$HS_CONNS" --resume "${req[@]}" --kx x25519 "${target_args[@]}" "${timed[@]}"
    stop_proxy
  fi
}

# == the machine's crypto limit, on the proxy's core with nothing else there
for run in $(seq 1 "$RUNS"); do
  if line=$(taskset -c "$PROXY_CORE" timeout 120 "$LOAD" crypto --duration "$DURATION" --label "crypto|crypto|$run" 2>>"$WORK/load.log"); then
    echo "$line" | grep '^{' >> "$RAW"
  else
    log "crypto run $run failed"; FAILED=$((FAILED + 1))
  fi
done

# == the backend alone (plain, no proxy): the ceiling of the load tool + backend pair
for run in $(seq 1 "$RUNS"); do
  ensure_backends
  load backend rr_tcp "$run" rr --proto tcp --plain --connect "127.0.0.1:$TCP_PORT" --conns "$RR_CONNS" --size "$RR_SIZE" "${timed[@]}"
  load backend rr_http1 "$run" rr --proto http1 --plain --connect "127.0.0.1:$HTTP_PORT" --conns "$RR_CONNS" --size "$RR_SIZE" "${timed[@]}"
done

# Runs interleave targets (run 1 of every target, then run 2 ...), so drift on a shared
# machine spreads over all targets instead of favouring one.
for run in $(seq 1 "$RUNS"); do
  for target in $RUN_TARGETS; do
    run_target "$target" "$run"
  done
done

# == versions for the report
{
  echo "mtlsd=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty')"
  echo "mtlsd_version=$("$BIN/mtlsd" --version 2>/dev/null | head -n1)"
  command -v nginx >/dev/null && echo "nginx=$(nginx -v 2>&1 | sed 's/^nginx version: //')"
  command -v haproxy >/dev/null && echo "haproxy=$(haproxy -v 2>/dev/null | head -n1)"
  [ -n "$STUNNEL" ] && echo "stunnel=$("$STUNNEL" -version 2>&1 | grep -m1 '^stunnel')"
  echo "openssl=$(openssl version 2>/dev/null)"
  echo "settings=quick=$QUICK runs=$RUNS duration_s=$DURATION idle_conns=$IDLE_CONNS bulk_mb=$BULK_MB hs_conns=$HS_CONNS rr_conns=$RR_CONNS rr_size=$RR_SIZE proxy_core=$PROXY_CORE load_core=$LOAD_CORE"
  echo "targets=$RUN_TARGETS"
} > "$RAW_DIR/versions-$STAMP.txt"

log "raw results: $RAW ($(wc -l < "$RAW") lines, $FAILED failed tests)"
python3 "$ROOT/benches/report/report.py" --raw "$RAW" --versions "$RAW_DIR/versions-$STAMP.txt" --out "$OUT"
log "wrote $OUT"
[ "$FAILED" = 0 ] || { log "$FAILED tests failed"; exit 1; }
