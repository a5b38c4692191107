-- A project's erasure records, newest first (schema/0027_erasures.sql),
-- each with whether all its content is blanked: marked finished
-- (schema/0031), or kept before that mark was (log_through -1: blanked
-- first, then recorded).
SELECT project, at_us, session_id, user_id, reason, by_key, steps_erased, fields_erased, signature, log_through,
       toBool(log_through < 0 OR (project, at_us, signature) IN (
           SELECT project, at_us, signature FROM erasures_finished WHERE project = {project:String})) AS finished
FROM erasures
WHERE project = {project:String}
ORDER BY at_us DESC, session_id, user_id
LIMIT {limit:UInt32}
