-- A stretch of the log of record's hashes, in order: positions in
-- [from, from + count). Read in pages so that rebuilding the log's head at
-- start-up holds one page in memory, not the whole log.
SELECT log_index AS i, lower(hex(step_hash)) AS h
FROM log_entries
WHERE log_index >= {from:UInt64} AND log_index < {from:UInt64} + {count:UInt64}
ORDER BY log_index
