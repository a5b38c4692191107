"""Real OpenTelemetry clients sending spans to a running Flightlog.

    python otlp_clients.py MODE BASE_URL KEY SESSION

MODE:
  sdk-proto      the OpenTelemetry SDK + OTLP/HTTP protobuf exporter, gen_ai spans
  sdk-json       the same spans through the OTLP/HTTP JSON exporter
  sdk-grpc       the same spans through the OTLP/gRPC exporter, gzip
                 (BASE_URL is then the gRPC endpoint, http://host:port)
  grpc-edges     the raw gRPC TraceService stub: one export sent twice,
                 a bad span, a wrong key, too many spans; prints the outcomes
  grpc-guesses   the raw stub, exporting with N wrong keys (SESSION is N) then
                 with KEY; prints each call's status
  openinference  openinference-instrumentation-openai around the openai client
  openllmetry    opentelemetry-instrumentation-openai around the openai client
  langfuse       the Langfuse SDK (its own OTLP exporter, Basic auth)

The openai client talks to a small fake OpenAI server started here, which
answers every chat completion with a tool call and fixed token usage.
Prints one line of JSON: what was sent, for the test to compare.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE, BASE, KEY, SESSION = sys.argv[1:5]

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1767225600,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{
        "index": 0,
        "finish_reason": "tool_calls",
        "message": {
            "role": "assistant",
            "content": None,
            "tool_calls": [{
                "id": "call_1",
                "type": "function",
                "function": {"name": "check_credit", "arguments": "{\"customer\": \"customer-7\"}"},
            }],
        },
    }],
    "usage": {
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 20},
        "completion_tokens_details": {"reasoning_tokens": 5},
    },
}

TOOLS = [
    {"type": "function", "function": {"name": "check_credit", "parameters": {"type": "object", "properties": {"customer": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "refuse_loan", "parameters": {"type": "object", "properties": {}}}},
]


class FakeOpenAI(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        body = json.dumps(COMPLETION).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def fake_openai():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/v1"


def provider(exporter):
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    tp = TracerProvider(resource=Resource.create({"service.name": "loan-service", "service.version": "3.1.0"}))
    tp.add_span_processor(BatchSpanProcessor(exporter))
    return tp


def proto_exporter():
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=f"{BASE}/v1/traces", headers={"Authorization": f"Bearer {KEY}"})


def json_exporter():
    from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=f"{BASE}/v1/traces", headers={"x-api-key": KEY})


def grpc_exporter():
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.grpc.exporter import Compression

    return OTLPSpanExporter(endpoint=BASE, insecure=True, headers=(("authorization", f"Bearer {KEY}"),), compression=Compression.Gzip)


def grpc_edges():
    """Calls the TraceService itself, to see its answers and statuses."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as ts_grpc
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    def attr(k, v):
        return KeyValue(key=k, value=AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=v))

    def span(i, extra=()):
        return Span(
            trace_id=bytes(15) + bytes([1]), span_id=(i + 1).to_bytes(8, "big"), name=f"chat {i}",
            start_time_unix_nano=1767225600_000_000_000 + i * 1_000_000_000, end_time_unix_nano=1767225600_500_000_000 + i * 1_000_000_000,
            attributes=[attr("gen_ai.operation.name", "chat"), attr("gen_ai.conversation.id", SESSION),
                        attr("gen_ai.request.model", "gpt-4o-mini"), attr("gen_ai.usage.input_tokens", 100 + i), *extra],
        )

    def request(spans):
        return ts.ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])

    stub = ts_grpc.TraceServiceStub(grpc.insecure_channel(BASE.removeprefix("http://")))
    auth = (("authorization", f"Bearer {KEY}"),)
    out = {}
    good = request([span(i) for i in range(5)])
    for name in ["first", "again"]:
        answer = stub.Export(good, metadata=auth, compression=grpc.Compression.Gzip)
        out[name] = {"rejected": answer.partial_success.rejected_spans, "message": answer.partial_success.error_message}
    # Span 7's user id is over the length limit: refused, named; span 6 stored.
    bad = request([span(6), span(7, [attr("user.id", "u" * 300)])])
    answer = stub.Export(bad, metadata=(("x-api-key", KEY),))
    out["bad"] = {"rejected": answer.partial_success.rejected_spans, "message": answer.partial_success.error_message}
    for name, metadata, req in [
        ("wrong_key", (("authorization", "Bearer not-a-key"),), good),
        ("no_key", (), good),
        ("too_many", auth, request([span(i) for i in range(int(sys.argv[5]) + 1)])),
        # Over the 32 MiB a request may be, uncompressed.
        ("too_large", auth, request([span(8, [attr("note", "x" * (33 << 20))])])),
    ]:
        try:
            stub.Export(req, metadata=metadata)
            out[name] = "OK"
        except grpc.RpcError as e:
            out[name] = e.code().name
    print(json.dumps(out))


def grpc_guesses():
    """Guesses keys over gRPC: each call's status, the right key's last."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as ts_grpc

    stub = ts_grpc.TraceServiceStub(grpc.insecure_channel(BASE.removeprefix("http://")))
    statuses = []
    for key in [f"{n:04}-wrong-key-guess" for n in range(int(SESSION))] + [KEY]:
        try:
            stub.Export(ts.ExportTraceServiceRequest(), metadata=(("authorization", f"Bearer {key}"),))
            statuses.append("OK")
        except grpc.RpcError as e:
            statuses.append(e.code().name)
    print(json.dumps(statuses))


def sdk(exporter):
    from opentelemetry.trace import SpanKind, Status, StatusCode

    tp = provider(exporter)
    tracer = tp.get_tracer("loan-agent")
    output = [{"role": "assistant", "parts": [
        {"type": "reasoning", "content": "Risk cannot be judged without a credit check."},
        {"type": "tool_call", "id": "call_1", "name": "check_credit", "arguments": {"customer": "customer-7"}},
    ]}]
    with tracer.start_as_current_span("invoke_agent loan-assistant", kind=SpanKind.INTERNAL) as agent:
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        agent.set_attribute("gen_ai.agent.name", "loan-assistant")
        agent.set_attribute("gen_ai.conversation.id", SESSION)
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as chat:
            for k, v in {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.request.temperature": 0.2,
                "gen_ai.request.top_p": 0.9,
                "gen_ai.request.seed": 42,
                "gen_ai.request.max_tokens": 512,
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 200,
                "gen_ai.usage.cache_read.input_tokens": 300,
                "gen_ai.usage.reasoning.output_tokens": 50,
                "gen_ai.conversation.id": SESSION,
                "gen_ai.agent.name": "loan-assistant",
                "gen_ai.agent.version": "2.3.0",
                "user.id": "customer-7",
                "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "You are a careful loan assistant."}]),
                "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Should loan 42 be approved?"}]}]),
                "gen_ai.output.messages": json.dumps(output),
                "gen_ai.tool.definitions": json.dumps([{"type": "function", "name": "check_credit"}, {"type": "function", "name": "refuse_loan"}]),
            }.items():
                chat.set_attribute(k, v)
        with tracer.start_as_current_span("execute_tool check_credit", kind=SpanKind.INTERNAL) as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "check_credit")
            tool.set_attribute("gen_ai.tool.call.arguments", json.dumps({"customer": "customer-7"}))
            tool.set_attribute("gen_ai.conversation.id", SESSION)
            tool.set_attribute("gen_ai.agent.name", "loan-assistant")
            tool.record_exception(TimeoutError("credit bureau did not answer in 30 s"))
            tool.set_status(Status(StatusCode.ERROR))
        # Plumbing without GenAI attributes: not a step.
        with tracer.start_as_current_span("GET /health"):
            pass
    tp.force_flush()
    tp.shutdown()


def instrumented(instrumentor, context):
    import openai

    tp = provider(proto_exporter())
    instrumentor.instrument(tracer_provider=tp)
    client = openai.OpenAI(base_url=fake_openai(), api_key="sk-fake", max_retries=0)
    with context:
        chat(client)
    tp.force_flush()
    tp.shutdown()


def chat(client):
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "You are a loan assistant."}, {"role": "user", "content": "Check customer-7."}],
        tools=TOOLS,
        temperature=0.3,
        seed=7,
        max_tokens=256,
        user="customer-7",
    )


def langfuse():
    import os

    os.environ["LANGFUSE_HOST"] = BASE
    os.environ["LANGFUSE_BASE_URL"] = BASE
    os.environ["LANGFUSE_PUBLIC_KEY"] = "pk-lf-flightlog"
    os.environ["LANGFUSE_SECRET_KEY"] = KEY
    os.environ["LANGFUSE_TRACING_ENVIRONMENT"] = "test"
    from langfuse import Langfuse, propagate_attributes

    lf = Langfuse()
    with propagate_attributes(session_id=SESSION, user_id="customer-9"):
        with lf.start_as_current_observation(name="loan-agent", as_type="agent") as agent:
            with lf.start_as_current_observation(
                name="decide",
                as_type="generation",
                model="claude-sonnet-4",
                model_parameters={"temperature": 0.1, "max_tokens": 300},
                input=[{"role": "user", "content": "Approve loan 9?"}],
            ) as gen:
                gen.update(output="Refuse: the risk score is too high.", usage_details={"input": 400, "output": 60})
            with lf.start_as_current_observation(name="refuse_loan", as_type="tool", input={"loan": 9}) as tool:
                tool.update(output={"recorded": True})
            agent.update(output="done")
    lf.flush()
    lf.shutdown()


if MODE == "sdk-proto":
    sdk(proto_exporter())
elif MODE == "sdk-json":
    sdk(json_exporter())
elif MODE == "sdk-grpc":
    sdk(grpc_exporter())
elif MODE == "grpc-edges":
    grpc_edges()
    sys.exit(0)
elif MODE == "grpc-guesses":
    grpc_guesses()
    sys.exit(0)
elif MODE == "openinference":
    from openinference.instrumentation import using_attributes
    from openinference.instrumentation.openai import OpenAIInstrumentor

    instrumented(OpenAIInstrumentor(), using_attributes(session_id=SESSION, user_id="customer-7"))
elif MODE == "openllmetry":
    import contextlib

    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    # No session attribute: the trace id is the session.
    instrumented(OpenAIInstrumentor(), contextlib.nullcontext())
elif MODE == "langfuse":
    langfuse()
else:
    sys.exit(f"unknown mode {MODE}")
print(json.dumps({"mode": MODE, "session": SESSION}))
