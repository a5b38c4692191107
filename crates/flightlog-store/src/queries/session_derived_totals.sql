-- One session's stored steps against what its derived rows (list entry,
-- action counts, cost rollups) say about them. After an expiry's rebuild a
-- derived total above the steps' is a step counted twice: one whose views
-- wrote their rows after the forget, then read again by the rebuild.
SELECT
    (SELECT count() FROM steps
     WHERE project = {project:String} AND session_id = {session:String})                        AS steps,
    (SELECT count() FROM steps
     WHERE project = {project:String} AND session_id = {session:String} AND tool_name != '')    AS tool_runs,
    (SELECT ifNull(sum(steps), 0) FROM session_summaries
     WHERE project = {project:String} AND session_id = {session:String})                        AS summarised_steps,
    (SELECT ifNull(sum(times), 0) FROM session_actions
     WHERE project = {project:String} AND session_id = {session:String})                        AS counted_tool_runs,
    (SELECT ifNull(sum(steps), 0) FROM cost_rollups
     WHERE project = {project:String} AND session_id = {session:String})                        AS rolled_up_steps
