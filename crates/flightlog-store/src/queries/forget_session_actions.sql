-- A session's repeated-action counts, before they are recomputed from the
-- steps left after an expiry.
ALTER TABLE session_actions DELETE
WHERE project = {project:String} AND session_id = {session:String}
SETTINGS mutations_sync = 2
