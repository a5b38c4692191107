-- Do the cost rollups account for exactly the stored steps?
SELECT
    (SELECT count() FROM steps)                        AS source,
    (SELECT ifNull(sum(steps), 0) FROM cost_rollups)   AS derived
