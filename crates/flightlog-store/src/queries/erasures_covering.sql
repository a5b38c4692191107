-- The erasure records that could cover an erased step of a session
-- (schema/0031): of the session, or of one of its users, or of either
-- within the other.
SELECT project, at_us, session_id, user_id, reason, by_key, steps_erased, fields_erased, signature, log_through
FROM erasures
WHERE project = {project:String}
  AND (session_id = '' OR session_id = {session:String})
  AND (user_id = '' OR has({users:Array(String)}, user_id))
ORDER BY at_us
