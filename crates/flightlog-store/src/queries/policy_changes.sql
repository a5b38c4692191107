-- Every row of one kind of a project's policy, newest first: the newest
-- one the instance signed is in force (the application core checks the
-- signatures). Policies change rarely; these are few rows.
SELECT project, body, set_us, set_by, signature
FROM project_policies
WHERE project = {project:String} AND kind = {kind:String}
ORDER BY set_us DESC
