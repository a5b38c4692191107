-- A project's incidents, newest first (by their last step), with the
-- state people gave them: one page, filtered by kind, session, agent and
-- state. The cursor is the (last_us, id) of the last row of the page
-- before; (max Int64, '') starts at the newest.
SELECT i.id AS id, i.kind AS kind, i.sessions AS sessions, i.agent_name AS agent_name, i.user_id AS user_id,
       i.tool_name AS tool_name, i.first_session AS first_session, i.first_step AS first_step, i.first_us AS first_us,
       i.last_session AS last_session, i.last_step AS last_step, i.last_us AS last_us, i.count AS count,
       i.message AS message, i.updated_us AS updated_us,
       if(s.id = '', 'open', s.state) AS state
FROM (SELECT * FROM incidents FINAL WHERE project = {project:String}) AS i
LEFT JOIN
(
    SELECT id, argMax(state, at_us) AS state
    FROM incident_states
    WHERE project = {project:String}
    GROUP BY id
) AS s ON s.id = i.id
WHERE ({kind:String} = '' OR i.kind = {kind:String})
  AND ({session:String} = '' OR has(i.sessions, {session:String}))
  AND ({agent:String} = '' OR i.agent_name = {agent:String})
  AND ({id:String} = '' OR i.id = {id:String})
  AND ({state:String} = '' OR if(s.id = '', 'open', s.state) = {state:String})
  AND (i.last_us, i.id) < ({cursor_us:Int64}, {cursor_id:String})
ORDER BY i.last_us DESC, i.id DESC
LIMIT {limit:UInt32}
SETTINGS join_use_nulls = 0
