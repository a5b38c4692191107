-- Which sessions of a project make this page, as sessions_ranked.sql ranks
-- them, while recent parts of session_summaries wait beside its largest
-- part to be merged. FINAL would then merge every session (with random
-- ids, each recent part overlaps every other), where only the sessions
-- with a row beside the largest part have more than one row.
--
-- So each session is grouped from its rows here, reading only the rows
-- that can matter (the row marker, in the innermost WHERE):
--   * every row of every session with a row beside the largest part;
--   * the rows, each its session's only one, that pass the page's filter
--     and lie at or past the threshold {threshold} (the op marker).
-- Every session so grouped has all of its rows, so its values are its
-- merged ones and the filter (the having marker) holds on them exactly. A
-- session left out has one row, in the largest part, that fails the
-- filter or lies short of the threshold. sessions.rs proves the page from
-- that (ranked_beside_the_largest_part).
--
-- The reads of the table in this query share one snapshot of its parts
-- (enable_shared_storage_snapshot_in_query), so a part merged or written
-- meanwhile cannot make a session look like one row when it has several.
-- If the largest part is gone by then, every row counts as beside it: the
-- page is still exact, and past the bound on their number the check stops
-- such a query (sessions.rs then reads the whole list) before it builds a
-- set of every session.
--
-- A page by start time returns each session's last time too (the extent
-- marker), as sessions_ranked.sql does, and (the starts marker) where each
-- of its rows starts and its merged step count: every row of a session
-- grouped here was read, so the page's whole summaries are then read at
-- those start times rather than by id (sessions.rs, SessionSort::starts).
--
-- The filter's names mean a row's values in the innermost SELECT (the row
-- marker) and merged values in the outermost one (the having marker), so
-- the merged values are renamed back to them there.
SELECT session_id, {{key}}{{extent}}{{starts}}
FROM
(
    SELECT
        session_id,
        merged_first_us  AS first_us,
        merged_last_us   AS last_us,
        merged_steps     AS steps,
        merged_failed    AS failed_steps,
        merged_cost      AS estimated_cost,
        row_starts       AS starts
    FROM
    (
        SELECT
            session_id,
            min(first_us)        AS merged_first_us,
            groupArray(first_us) AS row_starts,
            max(last_us)         AS merged_last_us,
            sum(steps)           AS merged_steps,
            sum(failed_steps)    AS merged_failed,
            -- Rounded as sessions_ranked.sql rounds it.
            round(sum(cost), 9)  AS merged_cost
        FROM
        (
            SELECT
                session_id,
                toUnixTimestamp64Micro(first_ts)           AS first_us,
                toUnixTimestamp64Micro(last_ts)            AS last_us,
                steps,
                failed_steps,
                session_summaries.estimated_cost           AS cost,
                round(session_summaries.estimated_cost, 9) AS estimated_cost
            FROM session_summaries
            WHERE project = {project:String}{{sessions_with}}
              AND (({{key}} {{op}} {threshold:{{key_type}}} {{having}})
                   OR session_id IN (SELECT session_id FROM session_summaries
                                     WHERE project = {project:String} AND _part != {largest_part:String}))
              AND (SELECT throwIf(count() > {most_beside:UInt64}, 'too many rows beside the largest part')
                   FROM session_summaries WHERE _part != {largest_part:String}) = 0
        )
        GROUP BY session_id
    )
)
WHERE 1 {{having}}
ORDER BY {{order}}
LIMIT {limit:UInt32}
-- The set of sessions beside the largest part is not used to choose
-- granules of the primary key: its ids are random, so nearly every granule
-- holds one, and choosing them cost 15 ms of 210 over 10M sessions. A page
-- whose ties with the threshold are most of the list (cheapest first where
-- most sessions cost nothing) would group them all: past a million
-- sessions the engine stops, and sessions.rs reads the whole list instead.
SETTINGS enable_shared_storage_snapshot_in_query = 1, use_query_condition_cache = 0, use_index_for_in_with_subqueries = 0,
         max_rows_to_group_by = 1000000, group_by_overflow_mode = 'throw'
