-- Every project's rows of one kind of policy, each project's newest first
-- (the application core takes the newest the instance signed).
SELECT project, body, set_us, set_by, signature
FROM project_policies
WHERE kind = {kind:String}
ORDER BY project, set_us DESC
