-- Which of these messages their sessions already hold (schema/0023): the
-- writer stores only the others. A primary-key read of the named sessions
-- (the hex is named `key`, not `hash`: see stored_messages.sql).
SELECT DISTINCT session_id, lower(hex(hash)) AS key
FROM step_contents
WHERE project = {project:String}
  AND session_id IN {sessions:Array(String)}
  AND hash IN (SELECT toFixedString(unhex(arrayJoin({hashes:Array(String)})), 32))
