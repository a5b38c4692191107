-- The next stored steps for the detectors that run behind ingestion
-- (near-duplicate side effects, goal drift, priced runaways), in order of
-- acceptance: the steps at log positions in [from, below), at most `limit`.
-- `below` is the size of the log of acknowledged steps: a group commit's
-- steps part is visible before its INSERT has written the views
-- (session_summaries, cost_rollups), so a step read earlier could be
-- priced from a summary that does not hold it yet.
-- Only what they compare is read: the call and its content, the
-- reasoning, and who ran it.
SELECT log_index, project, session_id, step, toUnixTimestamp64Micro(ts) AS ts_us, agent_name, user_id,
       tool_name, tool_params, failed, reasoning
FROM steps
WHERE log_index >= {from:UInt64} AND log_index < {below:UInt64}
ORDER BY log_index
LIMIT {limit:UInt32}
