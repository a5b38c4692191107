-- One session's entries in the log of record, in log order. Not a
-- primary-key read (the log is ordered by position), but only these
-- small columns are scanned and only the session's entries are kept.
SELECT log_index, project, session_id, step, step_hash
FROM log_entries
WHERE project = {project:String} AND session_id = {session:String}
ORDER BY log_index
