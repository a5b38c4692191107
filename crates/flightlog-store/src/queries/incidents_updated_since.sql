-- Incidents of every project that changed at or after `since_us`, with
-- the count each rule last delivered: the alert outbox's due list (what
-- has no delivery, or grew past its last, is still to send). Bounded by
-- `limit`, oldest change first, so a backlog drains in order.
SELECT i.project AS project, i.id AS id, i.kind AS kind, i.sessions AS sessions, i.agent_name AS agent_name,
       i.user_id AS user_id, i.tool_name AS tool_name, i.first_session AS first_session, i.first_step AS first_step,
       i.first_us AS first_us, i.last_session AS last_session, i.last_step AS last_step, i.last_us AS last_us,
       i.count AS count, i.message AS message, i.updated_us AS updated_us, 'open' AS state
FROM incidents AS i FINAL
WHERE i.updated_us >= {since_us:Int64}
ORDER BY i.updated_us
LIMIT {limit:UInt32}
