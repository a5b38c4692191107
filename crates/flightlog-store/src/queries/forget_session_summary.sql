-- A session's row in the session list, before it is recomputed from the
-- steps left after an expiry.
ALTER TABLE session_summaries DELETE
WHERE project = {project:String} AND session_id = {session:String}
SETTINGS mutations_sync = 2
