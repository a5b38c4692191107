#!/usr/bin/env bash
# OTLP ingest, side by side: Flightlog (release build) and Arize Phoenix,
# same payloads, same run. Prints spans/s durable and queryable, and the
# ratio. Phoenix goes into its own venv in the cache (pinned).
#
# Run by `flightlog-bench otlp` (which sets FLIGHTLOG_BENCH_BIN to the
# flightlog binary it found), or directly from this folder.
set -euo pipefail

CACHE="${FLIGHTLOG_CACHE:-$HOME/.cache/flightlog}"
BIN="${FLIGHTLOG_BENCH_BIN:-${CARGO_TARGET_DIR:-$CACHE/target}/release/flightlog}"
PY="${FLIGHTLOG_PYTHON:-$CACHE/venv/bin/python}"
PHOENIX_VENV="$CACHE/phoenix-venv"
PHOENIX_VERSION="20.26.1"
SPANS="${SPANS:-20000}"

[ -x "$PHOENIX_VENV/bin/phoenix" ] || {
    echo "bench-otlp: installing arize-phoenix==$PHOENIX_VERSION (once)"
    python3 -m venv "$PHOENIX_VENV"
    "$PHOENIX_VENV/bin/pip" install --quiet --disable-pip-version-check "arize-phoenix==$PHOENIX_VERSION"
}
work="$(mktemp -d)"
cleanup() { kill "${FL_PID:-}" "${PX_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FL_PORT="$(port)"; PX_PORT="$(port)"; PX_GRPC="$(port)"

FLIGHTLOG_BOOTSTRAP_KEY=bench-key FLIGHTLOG_NO_SEARCH=true FLIGHTLOG_LOG=warn \
    "$BIN" serve --no-otlp-grpc --data-dir "$work/flightlog" --listen "127.0.0.1:$FL_PORT" >/dev/null &
FL_PID=$!
PHOENIX_WORKING_DIR="$work/phoenix" PHOENIX_PORT="$PX_PORT" PHOENIX_GRPC_PORT="$PX_GRPC" PHOENIX_HOST=127.0.0.1 \
    "$PHOENIX_VENV/bin/phoenix" serve >"$work/phoenix.log" 2>&1 &
PX_PID=$!
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$FL_PORT/healthz" >/dev/null && curl -sf "http://127.0.0.1:$PX_PORT/healthz" >/dev/null && break
    sleep 0.2
done
echo "bench-otlp: $SPANS spans each; flightlog $("$BIN" --version), arize-phoenix $PHOENIX_VERSION; $(nproc) cores"
"$PY" "$(dirname "$0")/otlp_vs_phoenix.py" --flightlog "http://127.0.0.1:$FL_PORT" --key bench-key \
    --phoenix "http://127.0.0.1:$PX_PORT" --spans "$SPANS"
echo "flightlog peak RSS (VmHWM): $(awk '/VmHWM/ {print int($2/1024) " MiB"}' /proc/$FL_PID/status)"
