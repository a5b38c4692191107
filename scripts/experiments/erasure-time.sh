#!/usr/bin/env bash
# Stop 61, a before/after check (not a benchmark target): how long
# POST /v1/erasures takes for one user's 4,000 steps (8 batches of 500,
# ~1 KB each) on a fresh embedded folder, so that two builds can be
# compared in turn on the same machine.
#   scripts/experiments/erasure-time.sh FLIGHTLOG_BIN [PORT]
# Needs curl and python3.
set -euo pipefail
BIN=$1
PORT=${2:-47311}
KEY=fl_admin_bench_key_0123456789abcdef
DIR=$(mktemp -d)
FLIGHTLOG_BOOTSTRAP_KEY=$KEY "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DIR" --no-search > "$DIR/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 100); do curl -sf localhost:$PORT/healthz > /dev/null && break; sleep 0.3; done
python3 - "$PORT" "$KEY" <<'PY'
import json, sys, time, urllib.request
port, key = sys.argv[1], sys.argv[2]
def post(path, body, kind):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body.encode(),
                                 headers={"Authorization": "Bearer " + key, "Content-Type": kind})
    return json.loads(urllib.request.urlopen(req).read())
for b in range(8):
    lines = [json.dumps({"session_id": "big", "step": i, "timestamp": "2026-12-07T10:00:00Z", "user_id": "u-big",
                         "agent_thoughts": {"reasoning": f"step {i}"},
                         "tool_execution": {"name": "lookup_order", "params": {"order": i}, "result": {"status": "shipped"}},
                         "prompt": {"messages": [{"role": "user", "content": f"where is order {i} " + "x" * 200}]}})
             for i in range(b * 500, (b + 1) * 500)]
    post("/v1/steps", "\n".join(lines), "application/x-ndjson")
started = time.time()
done = post("/v1/erasures", json.dumps({"user_id": "u-big", "reason": "timing"}), "application/json")
print(f"erasure of {done['steps_erased']} steps: {time.time() - started:.2f} s")
PY
