"""OTLP ingest, Flightlog and Arize Phoenix side by side, same payloads.

    python otlp_vs_phoenix.py --flightlog URL --key KEY [--phoenix URL] [--spans N]

Counts spans per second until they are *durable and queryable*, not merely
acknowledged:
- Flightlog answers 200 only once the steps are fsynced and readable, so
  the clock stops at the last answer; the count is then checked through
  its API.
- Phoenix answers before it persists, so the clock stops when its REST API
  returns every span.
Payloads: gen_ai chat spans of about 1 KB (model, settings, tokens,
messages), 100 per session, batches of 1,000, 4 concurrent clients.
Run by bench-otlp.sh beside it (`flightlog-bench otlp`), which starts both
servers.
"""

import argparse
import concurrent.futures
import json
import os
import random
import time
import urllib.request

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

BATCH = 1000
CLIENTS = 4


def span_attributes(i, run):
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.seed": 42,
        "gen_ai.usage.input_tokens": 1200 + i % 300,
        "gen_ai.usage.output_tokens": 200 + i % 50,
        "gen_ai.conversation.id": f"{run}-session-{i // 100}",
        "gen_ai.agent.name": "loan-assistant",
        "user.id": f"customer-{i % 97}",
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": f"Please analyse report {i} and recommend whether the loan can be approved."}]}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
            {"type": "reasoning", "content": "The financial figures decide affordability, so analyse them before fetching history."},
            {"type": "tool_call", "name": "analyze_financials", "arguments": {"report_id": i}}]}]),
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o",
    }


def any_value(v):
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    return AnyValue(string_value=str(v))


def json_value(v):
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": str(v)}


def spans(run, n):
    rng = random.Random(run)
    start = 1_767_225_600_000_000_000
    out = []
    for i in range(n):
        trace_id = rng.getrandbits(128).to_bytes(16, "big")
        span_id = rng.getrandbits(64).to_bytes(8, "big")
        t = start + i * 1_000_000
        out.append((trace_id, span_id, t, t + 900_000_000, span_attributes(i, run)))
    return out


def protobuf_bodies(run, n):
    bodies = []
    all_spans = spans(run, n)
    for b in range(0, n, BATCH):
        req = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
            resource={"attributes": [KeyValue(key="service.name", value=AnyValue(string_value="bench"))]},
            scope_spans=[ScopeSpans(spans=[
                Span(trace_id=t, span_id=s, name="chat gpt-4o", kind=Span.SPAN_KIND_CLIENT,
                     start_time_unix_nano=st, end_time_unix_nano=et,
                     attributes=[KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()])
                for (t, s, st, et, attrs) in all_spans[b:b + BATCH]])])])
        bodies.append(req.SerializeToString())
    return bodies


def json_bodies(run, n):
    bodies = []
    all_spans = spans(run, n)
    for b in range(0, n, BATCH):
        req = {"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "bench"}}]},
            "scopeSpans": [{"spans": [
                {"traceId": t.hex(), "spanId": s.hex(), "name": "chat gpt-4o", "kind": 3,
                 "startTimeUnixNano": str(st), "endTimeUnixNano": str(et),
                 "attributes": [{"key": k, "value": json_value(v)} for k, v in attrs.items()]}
                for (t, s, st, et, attrs) in all_spans[b:b + BATCH]]}]}]}
        bodies.append(json.dumps(req).encode())
    return bodies


def post(url, body, content_type, headers):
    req = urllib.request.Request(url, data=body, method="POST", headers={"content-type": content_type, **headers})
    with urllib.request.urlopen(req, timeout=300) as resp:
        resp.read()
        return resp.status, dict(resp.headers)


def send_all(url, bodies, content_type, headers):
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda b: post(url, b, content_type, headers), bodies))
    assert all(status == 200 for status, _ in results), results[:3]
    return time.monotonic() - started, results


def get_json(url, headers=None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=60) as resp:
        return json.loads(resp.read())


def flightlog(base, key, n, encoding):
    run = f"fl-{encoding}-{os.getpid()}"
    bodies = protobuf_bodies(run, n) if encoding == "protobuf" else json_bodies(run, n)
    ct = "application/x-protobuf" if encoding == "protobuf" else "application/json"
    before = get_json(f"{base}/healthz")["ingest"]["accepted"]
    secs, results = send_all(f"{base}/v1/traces", bodies, ct, {"authorization": f"Bearer {key}"})
    accepted = sum(int(h.get("x-flightlog-accepted", h.get("X-Flightlog-Accepted", 0))) for _, h in results)
    # Queryable now: the last session's steps, through the API.
    steps = get_json(f"{base}/v1/sessions/{run}-session-{(n - 1) // 100}/steps?limit=1000", {"authorization": f"Bearer {key}"})["steps"]
    after = get_json(f"{base}/healthz")["ingest"]["accepted"]
    assert accepted == n and after - before == n and len(steps) == min(100, n), (accepted, after - before, len(steps))
    print(f"flightlog, OTLP {encoding}: {n} spans durable and queryable in {secs:.2f} s = {n / secs:,.0f} spans/s")
    return n / secs


def phoenix_count(base, project):
    # Phoenix's REST API: spans of a project, paged by cursor.
    total, cursor = 0, None
    while True:
        url = f"{base}/v1/projects/{project}/spans?limit=1000" + (f"&cursor={cursor}" if cursor else "")
        try:
            page = get_json(url)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return 0
            raise
        total += len(page.get("data", []))
        cursor = page.get("next_cursor")
        if not cursor:
            return total


def phoenix(base, n):
    run = f"px-{os.getpid()}"
    bodies = protobuf_bodies(run, n)
    secs_ack, _ = send_all(f"{base}/v1/traces", bodies, "application/x-protobuf", {})
    started = time.monotonic() - secs_ack
    deadline = time.monotonic() + 3600
    count = 0
    while time.monotonic() < deadline:
        count = phoenix_count(base, "default")
        if count >= n:
            break
        time.sleep(1)
    secs = time.monotonic() - started
    print(f"phoenix, OTLP protobuf: {n} spans acknowledged in {secs_ack:.2f} s, queryable ({count}) after {secs:.1f} s = {count / secs:,.0f} spans/s")
    return count / secs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--flightlog", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--phoenix")
    p.add_argument("--spans", type=int, default=20000)
    a = p.parse_args()
    fl = {enc: flightlog(a.flightlog, a.key, a.spans, enc) for enc in ("protobuf", "json")}
    if a.phoenix:
        px = phoenix(a.phoenix, a.spans)
        print(f"ratio, durable and queryable spans/s: flightlog protobuf / phoenix = {fl['protobuf'] / px:,.0f}x, "
              f"flightlog json / phoenix = {fl['json'] / px:,.0f}x")


if __name__ == "__main__":
    main()
