-- Do the session summaries account for exactly the stored steps?
SELECT
    (SELECT count() FROM steps)                      AS source,
    (SELECT ifNull(sum(steps), 0) FROM session_summaries) AS derived
