-- Incidents of one kind, of every project, whose last step is at or
-- after `since_us`: those a detector resumes after a restart (its largest
-- state: FINAL). The state people gave them is not needed here.
SELECT project, id, kind, sessions, agent_name, user_id, tool_name, first_session, first_step, first_us,
       last_session, last_step, last_us, count, message, updated_us, '' AS state
FROM incidents FINAL
WHERE kind = {kind:String} AND last_us >= {since_us:Int64}
ORDER BY project, id
