-- A session's cost rollups, before they are recomputed from the steps left
-- after an expiry.
ALTER TABLE cost_rollups DELETE
WHERE project = {project:String} AND session_id = {session:String}
SETTINGS mutations_sync = 2
