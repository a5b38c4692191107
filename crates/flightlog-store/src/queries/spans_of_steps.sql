-- The OpenTelemetry span each of these steps of a session was made from:
-- its ids as kept under `otel` (never redacted), or none for a step sent
-- natively. Two spans of one session starting in the same microsecond can
-- be given the same step number; the span ids tell such a span apart from
-- one sent again changed (flightlog_app::spans).
SELECT
    step,
    JSONHas(raw, 'otel') AS from_span,
    JSONExtractString(raw, 'otel', 'trace_id') AS trace_id,
    JSONExtractString(raw, 'otel', 'span_id') AS span_id
FROM steps
WHERE project = {project:String} AND session_id = {session:String} AND step IN {steps:Array(UInt64)}
