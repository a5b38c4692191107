-- The incidents involving any of these sessions (for their anomalies), at
-- most 20 per session page's worth; the most recent first, ties by id (one
-- step can end several incidents; the engine's order of ties changes with
-- merges).
SELECT id, kind, count, sessions
FROM incidents FINAL
WHERE project = {project:String} AND hasAny(sessions, {sessions:Array(String)})
ORDER BY last_us DESC, id
LIMIT 1000
