-- Sessions' goals: each session's first step's prompt messages and
-- reasoning (flightlog-model `semantic::goal_text` picks the goal). A
-- primary-key read of the named sessions only.
SELECT session_id,
       argMin(prompt_messages, step) AS prompt_messages,
       -- Long messages, stored once per session by reference (content.rs).
       arrayMap(h -> lower(hex(h)), argMin(message_refs, step)) AS message_refs,
       argMin(reasoning, step) AS reasoning
FROM steps
WHERE project = {project:String} AND session_id IN {sessions:Array(String)}
GROUP BY session_id
