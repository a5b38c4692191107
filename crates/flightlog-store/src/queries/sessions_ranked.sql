-- Which sessions of a project make this page: filtered, sorted and cut to
-- the page size, with its sort key only. Their full summaries are then
-- read for just these ids (session_summaries_of.sql).
--
-- FINAL merges each session's summary rows into one while reading, in key
-- order, and only where parts overlap: once the engine has merged them,
-- each row is read as it is. Grouping by session instead built a hash
-- table of every session at every page: a page by cost over 1M sessions
-- took 100-120 ms so, against 35 ms merged and 80-100 ms with recent
-- parts beside (`flightlog-bench sessions`).
--
-- The filter's conditions on merged values (sums, first and last times,
-- the cursor) apply after the merge, in the outer WHERE (the having marker).
-- A condition that one summary row decides for its whole session (it
-- names an agent, customer or model: a session has one when any of its
-- rows does) is either a set of session ids in the inner PREWHERE (the
-- sessions_with marker), so that only those sessions are merged and the
-- lists never are, or, where the candidates already narrow the merge, a
-- test of the merged lists (the lists marker selects them); sessions.rs
-- chooses. The candidates marker narrows a page
-- by start time to the sessions with a summary row past a threshold
-- (session_time_threshold.sql), when sessions.rs can prove that page is
-- the one the whole list would give. Every value is a bound parameter.
-- Only the sort key (the key marker) leaves this query, and on a page by
-- start time each session's last time too (the extent marker: with the
-- start, it bounds where the session's rows lie for the next read,
-- session_summaries_of.sql), so the engine reads
-- and merges only those and the columns the filter tests: where recent parts
-- overlap the rest, FINAL merges every session, and each column read costs
-- (by cost over 1M sessions, with four recent parts, about 45 against 75-135
-- ms with every sum selected).
SELECT session_id, {{key}}{{extent}}
FROM
(
    SELECT
        session_id,
        toUnixTimestamp64Micro(first_ts)          AS first_us,
        toUnixTimestamp64Micro(last_ts)           AS last_us,
        steps,
        failed_steps,
        -- Rounded as session_summaries_of.sql rounds it, so that a cursor
        -- on cost is stable across merges, which may add the same floats
        -- in another order.
        round(session_summaries.estimated_cost, 9) AS estimated_cost{{lists}}
    FROM session_summaries FINAL
    -- PREWHERE, not WHERE: the rows it drops are dropped before the merge
    -- (a WHERE with FINAL filters merged rows), which is exact because it
    -- tests only the key's columns, the same on every row of a session.
    PREWHERE project = {project:String}{{sessions_with}}{{candidates}}
)
WHERE 1 {{having}}
ORDER BY {{order}}
LIMIT {limit:UInt32}
-- The query condition cache remembers which granules fail a condition; some
-- ClickHouse releases consulted it for FINAL reads too (ClickHouse #88504,
-- #93787) and so dropped rows before the merge that a merged row needed.
SETTINGS use_query_condition_cache = 0
