-- The most repeated action (tool + identical parameters) of each of these
-- sessions, when it ran at least {min_times} times.
SELECT session_id, argMax(tool_name, runs) AS tool, max(runs) AS times
FROM
(
    SELECT session_id, tool_name, sum(times) AS runs
    FROM session_actions
    WHERE project = {project:String} AND session_id IN {sessions:Array(String)}
    GROUP BY session_id, tool_name, params_hash
    HAVING runs >= {min_times:UInt64}
)
GROUP BY session_id
