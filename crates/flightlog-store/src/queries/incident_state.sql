-- The state people last gave one incident (empty when none: open).
SELECT argMax(state, at_us) AS state
FROM incident_states
WHERE project = {project:String} AND id = {id:String}
