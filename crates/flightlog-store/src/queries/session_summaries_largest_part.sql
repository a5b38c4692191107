-- The active part of session_summaries that holds the most rows, and how
-- many rows the other active parts hold: the recent parts that have not
-- been merged into it yet (sessions_ranked_beside_largest_part.sql).
-- Parts hold every project; the count is only a bound on the work.
SELECT argMax(name, rows) AS largest, sum(rows) - max(rows) AS beside
FROM system.parts
WHERE database = currentDatabase() AND table = 'session_summaries' AND active
