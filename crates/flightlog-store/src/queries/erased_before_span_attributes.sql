-- Steps erased (or whose content expired) before an erasure took an
-- OpenTelemetry span's attributes with the prompt (flightlog_model::
-- integrity::ERASABLE): their `raw` still holds the span's attributes,
-- which repeat the conversation. erasure.rs erases them again, step by
-- step, keeping the hashes kept the first time.
SELECT project, session_id, groupArray(step) AS steps
FROM steps
WHERE length(erased) > 0
  AND NOT mapContains(erased, '["otel","attributes"]')
  AND JSONType(raw, 'otel', 'attributes') = 'Object'
GROUP BY project, session_id
ORDER BY project, session_id
LIMIT {limit:UInt32}
