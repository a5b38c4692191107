-- Which of these sessions hold messages stored by reference (schema/0023):
-- only those have any to drop, and a mutation per session costs.
SELECT DISTINCT session_id
FROM step_contents
WHERE project = {project:String} AND session_id IN {sessions:Array(String)}
