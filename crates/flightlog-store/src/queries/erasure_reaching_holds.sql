-- Where an erasure request reaches what a legal hold keeps: (session,
-- user) of the steps it covers (as erasable_rows.sql picks them) that are
-- in a held session or are a held user's. A few are enough to name.
SELECT DISTINCT session_id, user_id
FROM steps
WHERE project = {project:String}
  AND ({session:String} = '' OR session_id = {session:String})
  AND ({user:String} = '' OR user_id = {user:String})
  AND (has({held_sessions:Array(String)}, session_id) OR has({held_users:Array(String)}, user_id))
ORDER BY session_id, user_id
LIMIT 10
