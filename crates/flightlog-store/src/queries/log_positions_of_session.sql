-- A session's positions in the log of record: what an expiry record may
-- list (never positions read from the steps table, which could claim
-- another session's).
SELECT log_index
FROM log_entries
WHERE project = {project:String} AND session_id = {session:String}
ORDER BY log_index
