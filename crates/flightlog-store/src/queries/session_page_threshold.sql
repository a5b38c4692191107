-- A value of the sort key near the end of a page, guessed from the largest
-- part of session_summaries only: the {{edge}} ({{direction}}) of the
-- {sample} best rows there that pass the page's filter, tested on each row
-- as on a merged session, and how many rows there were (fewer than the
-- sample: every such row). Only a guess: sessions.rs checks the page that
-- sessions_ranked_beside_largest_part.sql ranks from it. The markers are
-- those of sessions_ranked.sql.
SELECT {{edge}}(key) AS threshold, count() AS rows
FROM
(
    SELECT {{key}} AS key
    FROM
    (
        SELECT
            session_id,
            toUnixTimestamp64Micro(first_ts)           AS first_us,
            toUnixTimestamp64Micro(last_ts)            AS last_us,
            steps,
            failed_steps,
            round(session_summaries.estimated_cost, 9) AS estimated_cost{{lists}}
        FROM session_summaries
        WHERE project = {project:String} AND _part = {largest_part:String}
    )
    WHERE 1 {{having}}
    ORDER BY {{key}} {{direction}}
    LIMIT {sample:UInt64}
)
SETTINGS use_query_condition_cache = 0
