-- The log of record in order: what each Merkle leaf is.
SELECT log_index, project, session_id, step, step_hash
FROM log_entries
ORDER BY log_index
