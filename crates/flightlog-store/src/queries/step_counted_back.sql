-- The step number `back` steps before step `before` in one session (the
-- oldest of the `back` steps just before it), when the session has that
-- many: a session's step numbers may have gaps, so it is counted, not
-- subtracted (each number once: a copy inserted by tampering is not a
-- step more). A primary-key read, backwards from the step.
SELECT DISTINCT step
FROM steps
WHERE project = {project:String} AND session_id = {session:String} AND step < {before:UInt64}
ORDER BY step DESC
LIMIT 1 OFFSET {skip:UInt64}
