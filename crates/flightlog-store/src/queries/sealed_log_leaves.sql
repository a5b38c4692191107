-- The first {size} entries of the log of record, in order: what a
-- checkpoint of that size signed.
SELECT log_index, lower(hex(step_hash)) AS step_hash
FROM log_entries
WHERE log_index < {size:UInt64}
ORDER BY log_index
