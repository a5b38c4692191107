-- Every project's policy of one kind in force now (the newest row each).
SELECT project, newest_body AS body, newest_us AS set_us, newest_by AS set_by
FROM
(
    SELECT project, argMax(body, set_us) AS newest_body, max(set_us) AS newest_us, argMax(set_by, set_us) AS newest_by
    FROM project_policies
    WHERE kind = {kind:String}
    GROUP BY project
)
ORDER BY project
