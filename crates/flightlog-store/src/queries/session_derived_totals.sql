-- One session's stored steps against what its derived rows (list entry,
-- action counts, cost rollups) say about them. After an expiry's rebuild a
-- derived total above the steps' is a step counted twice: one whose views
-- wrote their rows after the forget, then read again by the rebuild. Each
-- table is read once, for one session.
SELECT stored.steps, stored.tool_runs, summaries.summarised_steps, actions.counted_tool_runs, rollups.rolled_up_steps
FROM
    (SELECT count() AS steps, countIf(tool_name != '') AS tool_runs FROM steps
     WHERE project = {project:String} AND session_id = {session:String}) AS stored
CROSS JOIN
    (SELECT ifNull(sum(steps), 0) AS summarised_steps FROM session_summaries
     WHERE project = {project:String} AND session_id = {session:String}) AS summaries
CROSS JOIN
    (SELECT ifNull(sum(times), 0) AS counted_tool_runs FROM session_actions
     WHERE project = {project:String} AND session_id = {session:String}) AS actions
CROSS JOIN
    (SELECT ifNull(sum(steps), 0) AS rolled_up_steps FROM cost_rollups
     WHERE project = {project:String} AND session_id = {session:String}) AS rollups
