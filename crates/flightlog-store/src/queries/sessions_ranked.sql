-- Which sessions of a project make this page: filtered, sorted and cut to
-- the page size with cheap aggregates only (the array columns are tested
-- with has(), not collected). Their full summaries are then read for just
-- these ids (session_summaries_of.sql): collecting every session's agents,
-- users, models and tags first made a page over 1M sessions cost ~0.7 s.
-- The {{having}} and {{order}} markers take fixed fragments chosen in
-- sessions.rs; every value is a bound {name:Type} parameter.
SELECT
    session_id,
    toUnixTimestamp64Micro(min(first_ts)) AS first_us,
    toUnixTimestamp64Micro(max(last_ts))  AS last_us,
    sum(steps)                            AS steps,
    sum(failed_steps)                     AS failed_steps,
    round(sum(estimated_cost), 9)         AS estimated_cost
FROM session_summaries
WHERE project = {project:String}
GROUP BY session_id
HAVING 1 {{having}}
ORDER BY {{order}}
LIMIT {limit:UInt32}
