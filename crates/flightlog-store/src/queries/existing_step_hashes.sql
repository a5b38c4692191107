-- Which of these (session, step) keys are already stored, and with what
-- content? The writer asks this before every group commit. Both IN lists
-- narrow the primary-key range; exact pairs are matched by the caller.
SELECT session_id, step, lower(hex(step_hash)) AS step_hash
FROM steps
WHERE project = {project:String}
  AND session_id IN {sessions:Array(String)}
  AND step IN {steps:Array(UInt64)}
