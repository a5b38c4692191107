-- The legal holds of a project in force now: subjects whose newest row
-- places a hold.
SELECT subject, id, argMax(reason, at_us) AS held_for, max(at_us) AS since_us, argMax(by_key, at_us) AS placed_by
FROM legal_holds
WHERE project = {project:String}
GROUP BY subject, id
HAVING argMax(held, at_us)
ORDER BY subject, id
