-- How the sessions a list filter passes (every page of it) spread: how
-- many fall in each length bucket and each estimated-cost bucket (the
-- bounds are STEP_BUCKETS and COST_BUCKETS in sessions.rs). The
-- sessions_with and having markers take the list's own filter fragments,
-- read as sessions_ranked.sql reads them (and so without the query
-- condition cache, as there).
WITH filtered AS
(
    SELECT session_id, steps, failed_steps, estimated_cost, first_us, last_us
    FROM
    (
        SELECT session_id, steps, failed_steps, round(session_summaries.estimated_cost, 9) AS estimated_cost,
               toUnixTimestamp64Micro(first_ts) AS first_us, toUnixTimestamp64Micro(last_ts) AS last_us
        FROM session_summaries FINAL
        PREWHERE project = {project:String}{{sessions_with}}
        SETTINGS use_query_condition_cache = 0
    )
    WHERE 1 {{having}}
)
SELECT 'steps' AS measure,
       multiIf(steps <= 1, 0, steps <= 5, 1, steps <= 10, 2, steps <= 50, 3, steps <= 100, 4, steps <= 500, 5, steps <= 1000, 6, 7) AS bucket,
       count() AS sessions
FROM filtered GROUP BY bucket
UNION ALL
SELECT 'cost' AS measure,
       multiIf(estimated_cost < 0.001, 0, estimated_cost < 0.01, 1, estimated_cost < 0.1, 2, estimated_cost < 1, 3, estimated_cost < 10, 4, 5) AS bucket,
       count() AS sessions
FROM filtered GROUP BY bucket
