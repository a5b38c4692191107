-- One entry of the log of record, by position (a primary-key read).
SELECT log_index, project, session_id, step, step_hash
FROM log_entries
WHERE log_index = {log_index:UInt64}
