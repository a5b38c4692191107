-- The stored messages, span attribute pieces and whole texts (schema/0023 to 0025) of
-- these sessions that none of their steps refers to any more: what an erasure (which empties an erased step's
-- references) or an expiry (which removes steps) leaves behind. Read under
-- the writer's messages lock (content.rs), so no step about to refer to one
-- of them is being written.
SELECT session_id, lower(hex(hash)) AS key
FROM step_contents
WHERE project = {project:String}
  AND session_id IN {sessions:Array(String)}
  AND (session_id, hash) NOT IN (SELECT session_id, arrayJoin(arrayConcat(message_refs, arrayFlatten(mapValues(attribute_refs)), mapValues(text_refs)))
                                 FROM steps
                                 WHERE project = {project:String} AND session_id IN {sessions:Array(String)})
