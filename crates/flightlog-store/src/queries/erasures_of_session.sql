-- The erasure records that could cover an erased step of a session
-- (schema/0031): of the session, or of a user with steps in it, or of
-- either within the other. The users are read from the steps themselves:
-- the session summaries are derived, and can lag behind them.
SELECT project, at_us, session_id, user_id, reason, by_key, steps_erased, fields_erased, signature, log_through
FROM erasures
WHERE project = {project:String}
  AND (session_id = '' OR session_id = {session:String})
  AND (user_id = '' OR user_id IN (
      SELECT user_id FROM steps WHERE project = {project:String} AND session_id = {session:String}))
ORDER BY at_us
