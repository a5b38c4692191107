-- The incidents involving any of these sessions (for their anomalies), at
-- most 20 per session page's worth; the most recent first.
SELECT id, kind, count, sessions
FROM incidents FINAL
WHERE project = {project:String} AND hasAny(sessions, {sessions:Array(String)})
ORDER BY last_us DESC
LIMIT 1000
