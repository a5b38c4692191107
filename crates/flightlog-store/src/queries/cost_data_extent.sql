-- How many steps a project has and when its first and last step ran (in
-- microseconds since the epoch; both 0 when it has none): the costs page
-- offers this range when the one asked for has no steps.
--
-- The steps table is ordered by (project, session_id, step), not by time,
-- so this reads the ts column of all the project's granules: a scan of one
-- column for one project. Acceptable here: it runs only when a cost range
-- came back empty, once per page view.
SELECT
    count()                          AS steps,
    toUnixTimestamp64Micro(min(ts))  AS first_us,
    toUnixTimestamp64Micro(max(ts))  AS last_us
FROM steps
WHERE project = {project:String}
