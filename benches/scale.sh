#!/usr/bin/env bash
# The scale benchmark of issue 16 ("one gateway, 100,000 tenants"): builds mtlsd, tenantctl
# and mtls-scale, then mtls-scale makes a data dir (tenantctl init, probe tenants with real
# certificates), bulk-loads TENANTS tenants (1 certificate record and 10 HTTP routes each)
# through the registry crate, starts mtlsd in gateway mode on it and reports start-up, RSS,
# RSS peak, change-to-live latency of CHANGES registry changes (route add, route remove,
# tenant suspend, certificate revoke in turn) and the background request latency meanwhile,
# as one JSON object (docs/benchmarks.md, "Scale", says what each number means).
#
#   bash benches/scale.sh                      # 100,000 tenants, release builds; JSON kept in
#                                              # docs/benchmarks/scale-100000-<stamp>.json
#   TENANTS=10000 bash benches/scale.sh
#   SMOKE=1 bash benches/scale.sh              # CI: 10,000 tenants, 20 changes, debug builds,
#                                              # JSON not kept, fails if a change never goes live
#   REGISTRY=postgres REPLICAS=3 bash benches/scale.sh
#                                              # issue 17: a PostgreSQL server started for the
#                                              # run, 3 mtlsd replicas on it, commit to live on
#                                              # all of them, the database load per change;
#                                              # JSON in docs/benchmarks/scale-postgres-<n>-<stamp>.json
#
# Environment: TENANTS (default 100000; SMOKE: 10000), CHANGES (100; SMOKE: 20),
# POLL_INTERVAL_MS (the gateway's poll_interval, 100), PROFILE (release; SMOKE: debug), MTLSD (measure this mtlsd
# binary instead of the one built here) and MTLSD_COMMIT (its commit, for the report), OUT
# (where the JSON goes), MAX_RSS_MIB (mtlsd is killed and the run fails, its partial report
# kept, when its RSS goes over this; default 8192), BULK_UPSTREAM (the bulk routes' upstream,
# default https://10.0.0.5:8443, never dialled), REGISTRY (sqlite, the default, or
# postgres: Debian's PostgreSQL 15 binaries, as in the registry's tests), REPLICAS
# (PostgreSQL only, default 3), IDLE_S (PostgreSQL only: the idle window whose database
# load is taken off, and the wait for the server's statistics after the changes; 11).
# Timing targets never fail a run; a
# change that never goes live fails it only with SMOKE=1 (a correctness check). Loopback
# only; the work directory is removed on exit (its mtlsd log is printed first if the run
# failed).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  TENANTS=${TENANTS:-10000}
  PROFILE=${PROFILE:-debug}
  # Five of each kind: the same correctness check, in a CI-sized time (a change takes a few
  # seconds to go live with a debug mtlsd at 10,000 tenants).
  CHANGES=${CHANGES:-20}
else
  TENANTS=${TENANTS:-100000}
  PROFILE=${PROFILE:-release}
fi
case $PROFILE in
  release) BUILD=(--release) ;;
  debug) BUILD=() ;;
  *) echo "scale: PROFILE must be release or debug, not $PROFILE" >&2; exit 2 ;;
esac
cargo build --quiet --locked "${BUILD[@]}" -p mtlsd -p tenantctl -p mtls-scale
BIN=$PWD/target/$PROFILE
MTLSD=${MTLSD:-$BIN/mtlsd}
if [ -z "${MTLSD_COMMIT:-}" ]; then
  MTLSD_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git diff --quiet HEAD -- bins crates 2>/dev/null || MTLSD_COMMIT="$MTLSD_COMMIT-dirty"
fi

WORK=$(mktemp -d)
cleanup() {
  local status=$?
  if [ "$status" -ne 0 ] && [ -f "$WORK/run/mtlsd.log" ]; then
    echo "== mtlsd log (last 40 lines)"; tail -n 40 "$WORK/run/mtlsd.log"
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
if [ "$SMOKE" = 1 ]; then
  OUT=${OUT:-$WORK/scale.json}
else
  case ${REGISTRY:-sqlite} in
    sqlite) OUT=${OUT:-docs/benchmarks/scale-$TENANTS-$STAMP.json} ;;
    *) OUT=${OUT:-docs/benchmarks/scale-$REGISTRY-$TENANTS-$STAMP.json} ;;
  esac
fi
ARGS=(--tenants "$TENANTS" --changes "${CHANGES:-100}"
  --poll-interval-ms "${POLL_INTERVAL_MS:-100}" --mtlsd "$MTLSD" --tenantctl "$BIN/tenantctl"
  --work "$WORK/run" --out "$OUT" --mtlsd-commit "$MTLSD_COMMIT")
[ "$SMOKE" = 1 ] && ARGS+=(--fail-on-miss)
[ -n "${MAX_RSS_MIB:-}" ] && ARGS+=(--max-rss-mib "$MAX_RSS_MIB")
[ -n "${BULK_UPSTREAM:-}" ] && ARGS+=(--bulk-upstream "$BULK_UPSTREAM")
[ -n "${REGISTRY:-}" ] && ARGS+=(--registry "$REGISTRY")
[ -n "${REPLICAS:-}" ] && ARGS+=(--replicas "$REPLICAS")
[ -n "${IDLE_S:-}" ] && ARGS+=(--idle-s "$IDLE_S")
started=$SECONDS
"$BIN/mtls-scale" "${ARGS[@]}" >/dev/null
echo "scale: $TENANTS tenants (${REGISTRY:-sqlite}) in $((SECONDS - started)) s; report: $OUT"
# mtlsd's own account of its start-up: how long reading the registry and compiling the view
# took (the rest of startup_ms is process start, TLS set-up and binding).
grep -h "registry read and compiled" "$WORK"/run/mtlsd*.log >&2 || true
cat "$OUT"
