-- The policy of one kind a project has set last, if any.
SELECT body, set_us, set_by
FROM project_policies
WHERE project = {project:String} AND kind = {kind:String}
ORDER BY set_us DESC
LIMIT 1
