-- The guard's allowed answers given at or after a time, oldest first: each
-- counted a call in its tool's rate window, which a restart rebuilds from
-- them as well as from the steps (flightlog_app::guard).
SELECT project, at_us, session_id, user_id, agent_name, tool_name, action_key
FROM guard_answers
WHERE allowed AND at_us >= {since_us:Int64}
ORDER BY at_us
