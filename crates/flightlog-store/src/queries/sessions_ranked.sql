-- Which sessions of a project make this page: filtered, sorted and cut to
-- the page size with cheap aggregates only (the array columns are tested
-- with has(), not collected). Their full summaries are then read for just
-- these ids (session_summaries_of.sql): collecting every session's agents,
-- users, models and tags first made a page over 1M sessions cost ~0.7 s.
-- The having, order and candidates markers take fixed fragments chosen in
-- sessions.rs; every value is a bound {name:Type} parameter. The
-- candidates narrow a page by start time to the sessions with a summary
-- row past a threshold (session_time_threshold.sql), when sessions.rs can
-- prove that page is the one the whole list would give.
SELECT
    session_id,
    toUnixTimestamp64Micro(min(first_ts)) AS first_us,
    toUnixTimestamp64Micro(max(last_ts))  AS last_us,
    sum(steps)                            AS steps,
    sum(failed_steps)                     AS failed_steps,
    round(sum(estimated_cost), 9)         AS estimated_cost
FROM session_summaries
WHERE project = {project:String}{{candidates}}
GROUP BY session_id
HAVING 1 {{having}}
ORDER BY {{order}}
LIMIT {limit:UInt32}
