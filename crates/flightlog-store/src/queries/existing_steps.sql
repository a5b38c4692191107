-- Which of the group's step numbers these sessions already hold, with
-- their hashes (a retry, or a conflict), for sessions whose chain head the
-- writer already knows: a primary-key read of those step numbers alone,
-- however long the sessions are (session_states.sql reads every row of
-- each session to find its head).
SELECT
    session_id,
    groupArray((step, lower(hex(step_hash)))) AS existing
FROM steps
WHERE project = {project:String}
  AND session_id IN {sessions:Array(String)}
  AND step IN {steps:Array(UInt64)}
GROUP BY session_id
