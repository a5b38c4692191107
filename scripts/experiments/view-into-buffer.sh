#!/usr/bin/env bash
# Issue 15, an experiment (not a benchmark of Flightlog itself): what a
# materialized view's own part costs a 1,000-row insert, against the same
# view writing into a Buffer table in front of its fsynced
# AggregatingMergeTree (the shape of session_summaries). Two Null tables take
# the same rows in turn, order swapped every insert, over the engine fixture.
#   scripts/experiments/view-into-buffer.sh [FIXTURE_BIN] [INSERTS]
# FIXTURE_BIN defaults to the debug flightlog-chdb-http (`cargo build -p
# flightlog-chdb-http`); needs curl and python3.
set -euo pipefail
BIN=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/flightlog/target}/debug/flightlog-chdb-http}
N=${2:-30}
D=$(mktemp -d)
"$BIN" --data-dir "$D" --listen 127.0.0.1:0 > "$D/out.log" 2>&1 &
PID=$!
trap 'kill $PID; rm -rf "$D"' EXIT
for _ in $(seq 100); do grep -q listening "$D/out.log" && break; sleep 0.2; done
U="http://$(sed -n 's/.*listening on //p' "$D/out.log" | head -1)/"
q() { curl -sS --fail-with-body "$U" --data-binary "$1" >/dev/null; }
VIEW="SELECT project, session_id, min(ts) AS first_ts, max(ts) AS last_ts, count() AS steps, countIf(failed) AS failed_steps, sum(tokens) AS tokens, groupUniqArray(toString(agent)) AS agents"
for t in direct buffered; do
  q "CREATE TABLE src_$t (project LowCardinality(String), session_id String, ts DateTime64(6,'UTC'), tokens UInt64, failed Bool, agent LowCardinality(String), payload String) ENGINE = Null"
  q "CREATE TABLE dst_$t (project LowCardinality(String), session_id String, first_ts SimpleAggregateFunction(min, DateTime64(6,'UTC')), last_ts SimpleAggregateFunction(max, DateTime64(6,'UTC')), steps SimpleAggregateFunction(sum, UInt64), failed_steps SimpleAggregateFunction(sum, UInt64), tokens SimpleAggregateFunction(sum, UInt64), agents SimpleAggregateFunction(groupUniqArrayArray, Array(String))) ENGINE = AggregatingMergeTree ORDER BY (project, session_id) SETTINGS fsync_after_insert = 1, fsync_part_directory = 1"
done
q "CREATE TABLE buf_buffered AS dst_buffered ENGINE = Buffer(currentDatabase(), dst_buffered, 1, 1, 2, 100000, 1000000, 10000000, 100000000)"
q "CREATE MATERIALIZED VIEW mv_direct TO dst_direct AS $VIEW FROM src_direct GROUP BY project, session_id"
q "CREATE MATERIALIZED VIEW mv_buffered TO buf_buffered AS $VIEW FROM src_buffered GROUP BY project, session_id"
python3 - "$U" "$N" <<'PY'
import statistics, sys, time, urllib.parse, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
def rows(k):
    return "".join(f"p\ts{k}-{i // 40}\t2026-12-07 10:00:{i % 60:02d}.000000\t{i}\t{'true' if i % 7 == 0 else 'false'}\tagent{i % 3}\t{'x' * 1300}\n" for i in range(1000)).encode()
took = {"direct": [], "buffered": []}
for k in range(n):
    for t in (["direct", "buffered"] if k % 2 == 0 else ["buffered", "direct"]):
        req = urllib.request.Request(url + "?query=" + urllib.parse.quote(f"INSERT INTO src_{t} FORMAT TSV"), data=rows(k), method="POST")
        start = time.perf_counter()
        urllib.request.urlopen(req).read()
        took[t].append((time.perf_counter() - start) * 1000)
for t, what in [("direct", "the view writing its own fsynced part"), ("buffered", "the view writing into a Buffer in front of it")]:
    print(f"{what}: p50 {statistics.median(took[t]):.1f} ms, mean {statistics.mean(took[t]):.1f} ms, {n} inserts of 1,000 rows")
PY
sleep 3 # the Buffer's max_time: both tables then hold every row
curl -sS "$U" --data-binary "SELECT 'rows summed, direct / buffered:', (SELECT sum(steps) FROM dst_direct), (SELECT sum(steps) FROM dst_buffered) FORMAT TSV"
