-- Full per-session summaries of the given sessions of one project: the
-- session header, and the rows of a session-list page once
-- sessions_ranked.sql has chosen them; and, as a subquery, the candidates
-- that sessions_ranked_of.sql ranks.
--
-- The within marker is empty, or bounds the rows' start to where the
-- page's ranking saw them (sessions.rs, RowsSeen), so that the projection
-- by start time (schema/0026) reads those rows from a few granules rather
-- than the page's ids from about a third of the table.
SELECT
    session_id,
    toUnixTimestamp64Micro(min(first_ts)) AS first_us,
    toUnixTimestamp64Micro(max(last_ts))  AS last_us,
    sum(steps)                            AS steps,
    sum(failed_steps)                     AS failed_steps,
    sum(input_tokens)                     AS input_tokens,
    sum(output_tokens)                    AS output_tokens,
    sum(cache_read_tokens)                AS cache_read_tokens,
    sum(cache_write_tokens)               AS cache_write_tokens,
    sum(reasoning_tokens)                 AS reasoning_tokens,
    -- Rounded so that a page cursor on cost is stable across merges, which
    -- may add the same floats in a different order.
    round(sum(estimated_cost), 9)         AS estimated_cost,
    groupUniqArrayArray(agents)           AS agents,
    groupUniqArrayArray(models)           AS models,
    groupUniqArrayArray(users)            AS users,
    groupUniqArrayArray(tags)             AS tags
FROM session_summaries
WHERE project = {project:String} AND session_id IN {sessions:Array(String)}{{within}}
GROUP BY session_id
