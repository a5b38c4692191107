-- Recomputes session_actions from steps (same aggregation as
-- session_actions_mv in schema/0007); run at start-up only when the
-- totals disagree after a crash.
INSERT INTO session_actions
SELECT project, session_id, tool_name, cityHash64(tool_params), count()
FROM steps
WHERE tool_name != ''
GROUP BY project, session_id, tool_name, cityHash64(tool_params)
