-- Every placement and release of a project's legal holds, oldest first:
-- the application core replays the signed ones to know what is held.
SELECT subject, id, held, reason, at_us, by_key, signature
FROM legal_holds
WHERE project = {project:String}
ORDER BY at_us, subject, id
