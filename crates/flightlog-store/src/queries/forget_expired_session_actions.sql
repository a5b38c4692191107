-- After a session's steps expired: its repeated-action counts go too.
ALTER TABLE session_actions DELETE
WHERE project = {project:String} AND session_id = {session:String}
SETTINGS mutations_sync = 2
