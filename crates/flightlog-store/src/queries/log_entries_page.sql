-- A stretch of the log of record, in order: the entries at positions in
-- [from, from + count), a primary-key range. Entries sharing a position
-- (one inserted by tampering) come in a fixed order, so a verification
-- read twice reads the same leaves.
SELECT log_index, project, session_id, step, step_hash
FROM log_entries
WHERE log_index >= {from:UInt64} AND log_index < {from:UInt64} + {count:UInt64}
ORDER BY log_index, project, session_id, step, step_hash
