-- The users of some steps of a project, by (session, step): a search's
-- decision and hits, whose index points carry no user, named in the access
-- log's record of the read when it is made (the sessions may be gone by
-- the time someone asks whose data was read).
SELECT DISTINCT user_id
FROM steps
WHERE project = {project:String}
  AND session_id IN {sessions:Array(String)}
  AND (session_id, step) IN (SELECT tupleElement(p, 1), tupleElement(p, 2)
                             FROM (SELECT arrayJoin(arrayZip({sessions:Array(String)}, {steps:Array(UInt64)})) AS p))
  AND user_id != ''
ORDER BY user_id
