-- Steps erased (or whose content expired) before an erasure took an
-- OpenTelemetry span's attributes with the prompt (flightlog_model::
-- integrity::ERASABLE): their `raw` still holds the span's attributes,
-- which repeat the conversation. The retention job erases them again,
-- step by step, keeping the hashes kept the first time; a page at a time,
-- in key order after a (project, session, user) key, one group per
-- session and user so that a legal hold on either is honoured.
SELECT project, session_id, user_id, groupArray(step) AS steps
FROM steps
WHERE length(erased) > 0
  AND ((JSONType(raw, 'otel', 'attributes') != 'Null' AND NOT mapContains(erased, '["otel","attributes"]'))
    OR (JSONType(raw, 'otel', 'replaced_attributes') != 'Null' AND NOT mapContains(erased, '["otel","replaced_attributes"]')))
  AND (project, session_id, user_id) > ({after_project:String}, {after_session:String}, {after_user:String})
GROUP BY project, session_id, user_id
ORDER BY project, session_id, user_id
LIMIT {limit:UInt32}
