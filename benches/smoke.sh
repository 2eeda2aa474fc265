#!/usr/bin/env bash
# The load tool's smoke run (CI calls it from scripts/test): builds debug mtlsd, tenantctl and
# mtls-load; makes a throwaway data dir with tenantctl (CA, server certificate, one tenant,
# its client certificate, an HTTP route to the local backend); starts mtls-load's two plain
# backends (TCP echo, HTTP) and mtlsd with a server-mode listener (to the echo backend) and a
# gateway-mode listener (to the HTTP backend), all on loopback ports the OS picks; then runs
# every mode of mtls-load for one second against them and fails if a JSON line does not show
# ops > 0 and errors == 0 (and resumed > 0 for --resume, rss_kib_per_conn for idle).
# Everything it started is killed on exit. Not a benchmark: debug builds, one-second runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
cargo build --quiet --locked -p mtlsd -p tenantctl -p mtls-load
BIN=$PWD/target/debug
T=$BIN/tenantctl
LOAD=$BIN/mtls-load

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$status" -ne 0 ] && [ -f "$WORK/mtlsd.log" ]; then
    echo "== mtlsd log (last 40 lines)"; tail -n 40 "$WORK/mtlsd.log"
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
fail() { echo "smoke: $*" >&2; exit 1; }

# wait_line FILE PATTERN PID: until a line of FILE matches PATTERN (at most 20 s), while PID lives.
wait_line() {
  for _ in $(seq 1 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { cat "$1" "${1%.out}.log" 2>/dev/null; fail "$1: process $3 exited"; }
    sleep 0.1
  done
  fail "$1: no line matching '$2' after 20 s"
}

# == the data dir: CA and server certificate, a tenant, its bundle, a route to the backend
export MTLS_DATA_DIR=$WORK/data
export MTLS_ACTOR=cli:smoke
$T init --trust-domain smoke.mtls.local >/dev/null
[ -s "$MTLS_DATA_DIR/server/cert.pem" ] && [ -s "$MTLS_DATA_DIR/server/key.pem" ] \
  || fail "tenantctl init made no server certificate in $MTLS_DATA_DIR/server"
$T tenant create smoke --name "Smoke Tenant" >/dev/null
$T cert issue smoke --out "$WORK/bundle" >/dev/null
[ -s "$WORK/bundle/cert.pem" ] && [ -s "$WORK/bundle/key.pem" ] || fail "no client bundle"

# == the backends
start_backend() { # NAME PROTO (not in a subshell: PIDS must keep the PID)
  "$LOAD" backend --listen 127.0.0.1:0 --proto "$2" --duration 300 \
    >"$WORK/$1.out" 2>"$WORK/$1.log" &
  PIDS+=($!)
  wait_line "$WORK/$1.out" '^ready$' $!
}
start_backend echo tcp
start_backend http http
ECHO=$(awk '/^listening /{print $2}' "$WORK/echo.out")
HTTP=$(awk '/^listening /{print $2}' "$WORK/http.out")
$T route add smoke http --host smoke.localhost --path / --upstream "http://$HTTP" \
  --allow-private >/dev/null

# == mtlsd: a server-mode listener to the echo backend, a gateway-mode one to the routes
cat >"$WORK/mtlsd.toml" <<TOML
data_dir = "$MTLS_DATA_DIR"

[[listener]]
name = "server"
mode = "server"
listen = "127.0.0.1:0"
target = "$ECHO"

[listener.tls]
cert = "$MTLS_DATA_DIR/server/cert.pem"
key = "$MTLS_DATA_DIR/server/key.pem"
ca = "$MTLS_DATA_DIR/ca.pem"

[[listener]]
name = "gateway"
mode = "gateway"
listen = "127.0.0.1:0"
TOML
"$BIN/mtlsd" --config "$WORK/mtlsd.toml" >"$WORK/mtlsd.out" 2>"$WORK/mtlsd.log" &
MTLSD=$!
PIDS+=("$MTLSD")
wait_line "$WORK/mtlsd.out" '^ready$' "$MTLSD"
addr_of() { awk -v n="$1" '$1 == "bound" && $3 == n {print $4}' "$WORK/mtlsd.out"; }
SERVER=$(addr_of server)
GATEWAY=$(addr_of gateway)
[ -n "$SERVER" ] && [ -n "$GATEWAY" ] || fail "mtlsd printed no bound addresses"

# == every mode, one second each
TLS=(--cert "$WORK/bundle/cert.pem" --key "$WORK/bundle/key.pem" --ca "$MTLS_DATA_DIR/ca.pem"
  --server-name localhost --duration 1 --warmup 0)
RUNS=0
# check WHAT EXTRA_CHECK -- ARGS...: runs mtls-load ARGS, checks its one JSON line.
check() {
  local what=$1 extra=$2 line
  shift 3
  line=$("$LOAD" "$@" 2>"$WORK/load.err") \
    || { cat "$WORK/load.err"; echo "$line"; fail "$what: mtls-load exited non-zero"; }
  [[ $line =~ \"ops\":([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] \
    || { cat "$WORK/load.err"; fail "$what: ops is not > 0: $line"; }
  [[ $line =~ \"errors\":([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -eq 0 ] \
    || { cat "$WORK/load.err"; fail "$what: errors is not 0: $line"; }
  case $extra in
    resumed) [[ $line =~ \"resumed\":([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] \
      || fail "$what: no resumed handshake: $line" ;;
    rss) [[ $line =~ \"rss_kib_per_conn\":-?[0-9] ]] || fail "$what: no rss_kib_per_conn: $line" ;;
    crypto) [[ $line =~ \"crypto_limit_x25519_per_s\":[0-9] && $line =~ \"crypto_limit_mlkem_per_s\":[0-9] ]] \
      || fail "$what: no crypto limits: $line" ;;
    mb) [[ $line =~ \"mb_per_s\":[0-9] ]] || fail "$what: no mb_per_s: $line" ;;
  esac
  echo "$what: $line"
  RUNS=$((RUNS + 1))
}
GW=(--connect "$GATEWAY" --host smoke.localhost)
SV=(--connect "$SERVER")
check "handshake server" - -- handshake "${SV[@]}" "${TLS[@]}" --conns 2 --request echo --pid "$MTLSD"
check "handshake server --resume" resumed -- handshake "${SV[@]}" "${TLS[@]}" --conns 2 --request echo --resume
check "handshake gateway" - -- handshake "${GW[@]}" "${TLS[@]}" --conns 2 --request http --path / --pid "$MTLSD"
check "handshake gateway --resume" resumed -- handshake "${GW[@]}" "${TLS[@]}" --request http --path / --resume
check "handshake gateway mlkem" - -- handshake "${GW[@]}" "${TLS[@]}" --request http --kx mlkem
check "rr tcp" - -- rr "${SV[@]}" "${TLS[@]}" --proto tcp --conns 4 --size 64 --pid "$MTLSD"
check "rr http1" - -- rr "${GW[@]}" "${TLS[@]}" --proto http1 --conns 4 --size 64 --pid "$MTLSD"
check "rr h2" - -- rr "${GW[@]}" "${TLS[@]}" --proto h2 --conns 4 --size 64
check "bulk tcp" mb -- bulk "${SV[@]}" "${TLS[@]}" --proto tcp --mb 4
check "bulk http" mb -- bulk "${GW[@]}" "${TLS[@]}" --proto http --mb 4
check "idle gateway" rss -- idle "${GW[@]}" "${TLS[@]}" --conns 20 --hold 1 --request http --pid "$MTLSD"
check "idle server" rss -- idle "${SV[@]}" "${TLS[@]}" --conns 20 --hold 1 --request echo --pid "$MTLSD"
check "rr plain backend" - -- rr --connect "$HTTP" --plain --proto http1 --duration 1 --warmup 0
check "crypto" crypto -- crypto --duration 1 --warmup 0
echo "smoke: $RUNS runs of mtls-load against mtlsd passed"
