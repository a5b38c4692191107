-- Do the cost rollups account for exactly the stored steps?
SELECT
    (SELECT count() FROM steps)                        AS steps,
    (SELECT ifNull(sum(steps), 0) FROM cost_rollups)   AS rolled_up
