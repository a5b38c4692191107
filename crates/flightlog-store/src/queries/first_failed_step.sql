-- Where a session first went wrong: its lowest failed step, if any.
SELECT min(step) AS step, count() AS failures
FROM steps
WHERE project = {project:String} AND session_id = {session:String} AND failed
