-- The erasure records that could cover an erased step (schema/0031): of a
-- project's session, or of one of its users, or of either within the
-- other; every record when no project is named (a whole verification:
-- one row per erasure request, few beside the steps).
SELECT project, at_us, session_id, user_id, reason, by_key, steps_erased, fields_erased, signature, log_through
FROM erasures
WHERE {project:String} = ''
   OR (project = {project:String}
       AND (session_id = '' OR session_id = {session:String})
       AND (user_id = '' OR has({users:Array(String)}, user_id)))
ORDER BY project, at_us
