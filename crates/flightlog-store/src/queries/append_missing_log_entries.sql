-- A crash between the steps part and the log_entries part of one insert
-- leaves steps the log does not list yet: they are the tail, after the last
-- log entry. Only that tail is ever added; a step missing from steps while
-- listed in the log stays missing, as evidence.
INSERT INTO log_entries
SELECT log_index, project, session_id, step, step_hash
FROM steps
WHERE log_index >= (SELECT if(count() = 0, 0, max(log_index) + 1) FROM log_entries)
ORDER BY log_index
