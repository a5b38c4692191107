-- The log of record's entries at these positions (primary-key lookups):
-- what the log says of the steps a verification is reading.
SELECT log_index, project, session_id, step, step_hash
FROM log_entries
WHERE log_index IN {positions:Array(UInt64)}
ORDER BY log_index, project, session_id, step, step_hash
