-- A value of the sort key near the end of a page, guessed from the largest
-- part of session_summaries only: the edge (in the page's direction) of the
-- {sample} best rows there that pass the page's filter, tested on each row
-- as on a merged session, and how many rows there were (fewer than the
-- sample: every such row). Only a guess: sessions.rs checks the page that
-- sessions_ranked_beside_largest_part.sql ranks from it. The markers are
-- those of sessions_ranked.sql, and:
--   * raw_key, the sort key's column as stored; the rows are ordered by it,
--     not by the key (a rounding of it, or its microseconds), which is
--     computed for the few rows kept only (by cost over 10M sessions, 48
--     against 75 ms); the threshold marker turns its edge into the key;
--   * near, the filter's conditions on start and end times restated on
--     the stored columns, so that they choose granules;
--   * threads: by start time, one thread, which reads the start-time
--     projection back from the page's end and stops at the sample, where a
--     second thread reads from the middle of the range, far from the page
--     (for one day over 10M sessions, 13 against 70 ms).
SELECT
    {{threshold}} AS threshold,
    count() AS rows,
    -- Whether this read saw the largest part at all: a replica that has not
    -- made it yet sees no row of it, which must not pass for a filter that
    -- no row passes.
    (SELECT count() FROM session_summaries WHERE _part = {largest_part:String}) AS largest_rows
FROM
(
    SELECT raw_key
    FROM
    (
        SELECT
            session_id,
            {{raw_key}}                                AS raw_key,
            toUnixTimestamp64Micro(first_ts)           AS first_us,
            toUnixTimestamp64Micro(last_ts)            AS last_us,
            steps,
            failed_steps,
            round(session_summaries.estimated_cost, 9) AS estimated_cost{{lists}}
        FROM session_summaries
        WHERE project = {project:String} AND _part = {largest_part:String}{{near}}
    )
    WHERE 1 {{having}}
    ORDER BY raw_key {{direction}}
    LIMIT {sample:UInt64}
)
SETTINGS enable_shared_storage_snapshot_in_query = 1, use_query_condition_cache = 0{{threads}}
