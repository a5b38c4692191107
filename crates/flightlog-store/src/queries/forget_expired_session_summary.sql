-- After a session's steps expired: its row in the session list goes too.
ALTER TABLE session_summaries DELETE
WHERE project = {project:String} AND session_id = {session:String}
SETTINGS mutations_sync = 2
