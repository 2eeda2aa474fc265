#!/usr/bin/env bash
# Onboard a tenant from nothing to its first proxied request over the control-plane API, the
# way a serverless app would from wherever it runs, and print the tenant's wall time and the
# number of commands it ran.
#
# The operator's side (not counted): a data dir, an admin certificate, mtlsd serving a gateway
# listener and the [control] API, a demo upstream on loopback, and, over the API, the tenant,
# its route policy (loopback is a private destination: only an admin can allow it) and a
# one-time enrollment token. The tenant receives two things out of band: the token and the
# proxy's CA certificate (ca.pem).
#
# The tenant's side (counted, timed): 1. `tenantctl enroll --server` (key generated locally,
# CSR signed over the network), 2. `tenantctl route add --server` with the new certificate,
# 3. curl through the gateway. The route reaches the running gateway within one registry poll
# (250 ms), so step 3 retries for up to 2 s: still one command.
#
# Usage: examples/onboard-over-api.sh            (builds tenantctl and mtlsd, debug profile)
# Everything lives in a temporary directory and every process is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${ONBOARD_PROFILE:-dev}
cargo build --quiet --profile "$PROFILE" -p tenantctl -p mtlsd
BIN=$PWD/target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
T=$BIN/tenantctl
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# == operator: data dir, admin certificate, mtlsd with a gateway and the control API
export MTLS_DATA_DIR=$WORK/data
$T init --trust-domain onboard.mtls.local >/dev/null
$T admin issue ops --out "$WORK/admin" >/dev/null
GW=$(free_port); CTL=$(free_port); UP=$(free_port)
mkdir -p "$WORK/www"; echo "hello from acme's upstream" > "$WORK/www/index.html"
python3 -m http.server "$UP" --bind 127.0.0.1 --directory "$WORK/www" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
cat > "$WORK/mtlsd.toml" <<TOML
data_dir = "$WORK/data"

[[listener]]
name = "gateway"
mode = "gateway"
listen = "127.0.0.1:$GW"

[control]
listen = "127.0.0.1:$CTL"
TOML
"$BIN/mtlsd" --config "$WORK/mtlsd.toml" >"$WORK/mtlsd.out" 2>"$WORK/mtlsd.log" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q '^ready$' "$WORK/mtlsd.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready$' "$WORK/mtlsd.out" || { echo "mtlsd did not start:"; cat "$WORK/mtlsd.log"; exit 1; }
for _ in $(seq 1 50); do
  python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$UP),1)" 2>/dev/null && break; sleep 0.1
done

SERVER=https://127.0.0.1:$CTL
ADMIN=("$T" --server "$SERVER" --cert-dir "$WORK/admin")
"${ADMIN[@]}" tenant create acme --name "Acme Corp" >/dev/null
"${ADMIN[@]}" tenant limits acme --max-routes 10 --allow-private-routes >/dev/null
TOKEN=$("${ADMIN[@]}" --json token create acme --ttl 15m | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
cp "$WORK/data/ca.pem" "$WORK/proxy-ca.pem"   # handed to the tenant with the token

# == tenant: from an empty directory to its first proxied request
APP=$WORK/app
commands=0
start=$(date +%s.%N)
run() { commands=$((commands + 1)); echo "+ ${*/$TOKEN/<token>}" >&2; "$@"; }
run "$T" enroll --server "$SERVER" --token "$TOKEN" --ca "$WORK/proxy-ca.pem" --out "$APP"
run "$T" --server "$SERVER" --cert-dir "$APP" route add acme http \
  --host app.acme.test --upstream "http://127.0.0.1:$UP" --allow-private
first_request() {
  local attempt
  for attempt in $(seq 1 20); do
    if curl --silent --fail --max-time 5 --cert "$APP/cert.pem" --key "$APP/key.pem" \
        --cacert "$APP/ca.pem" -H 'Host: app.acme.test' "https://localhost:$GW/"; then
      echo "(first proxied response after $attempt attempt(s))" >&2
      return 0
    fi
    sleep 0.1
  done
  echo "no proxied response after 20 attempts; see $WORK/mtlsd.log" >&2
  return 1
}
run first_request
end=$(date +%s.%N)
echo
awk -v n="$commands" -v s="$start" -v e="$end" 'BEGIN {
  printf "tenant commands: %d\nwall time: %.2f s (enrollment with certificate issuance, route, first request)\n", n, e - s }'
