-- A project's erasure records, newest first (schema/0027_erasures.sql).
SELECT project, at_us, session_id, user_id, reason, by_key, steps_erased, fields_erased, signature, log_through
FROM erasures
WHERE project = {project:String}
ORDER BY at_us DESC, session_id, user_id
LIMIT {limit:UInt32}
