-- Incidents of every project that changed at or after `since_us`, with
-- the state people gave them: the alert outbox's candidates (the deliverer
-- sends those no rule has delivered at their count). Bounded by `limit`,
-- oldest change first, so a backlog drains in order.
SELECT i.project AS project, i.id AS id, i.kind AS kind, i.sessions AS sessions, i.agent_name AS agent_name,
       i.user_id AS user_id, i.tool_name AS tool_name, i.first_session AS first_session, i.first_step AS first_step,
       i.first_us AS first_us, i.last_session AS last_session, i.last_step AS last_step, i.last_us AS last_us,
       i.count AS count, i.message AS message, i.updated_us AS updated_us,
       if(s.id = '', 'open', s.state) AS state
FROM (SELECT * FROM incidents FINAL WHERE updated_us >= {since_us:Int64}) AS i
LEFT JOIN
(
    SELECT project, id, argMax(state, at_us) AS state
    FROM incident_states
    GROUP BY project, id
) AS s ON s.project = i.project AND s.id = i.id
ORDER BY i.updated_us
LIMIT {limit:UInt32}
SETTINGS join_use_nulls = 0
