-- The users with steps in a session, read from the steps themselves (the
-- session summaries are derived, and can lag behind them).
SELECT DISTINCT user_id
FROM steps
WHERE project = {project:String} AND session_id = {session:String}
ORDER BY user_id
