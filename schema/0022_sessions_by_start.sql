-- The session list's pages by start time (issue 16) first find the
-- sessions near their end of the list: the start time of the newest (or
-- oldest) summary rows that meet the page's filter, then the sessions with
-- a row past it (sessions.rs, session_time_threshold.sql). Ordered by
-- session id, both read a column of every session; where ids are random
-- (UUIDv4) nothing narrows them. This migration keeps the columns those two
-- reads test in a projection ordered by start time, so that each reads a
-- few granules at the edge of the list, and marks the rows that open a
-- session, so that the later steps of older sessions, whose rows start
-- late, are not taken for new sessions.

-- 1 on a row that holds its session's first accepted step (session_seq 0)
-- or was rebuilt from all of its session's steps. Every session has such a
-- row (the store adds one where it finds none: open_unopened_sessions.sql),
-- so a session none of whose opening rows starts at or after a time started
-- before it. Rows written before this column count as opening (the
-- default): that only makes fewer sessions known to be older.
ALTER TABLE session_summaries ADD COLUMN IF NOT EXISTS opens SimpleAggregateFunction(max, UInt8) DEFAULT 1;

-- The view of schema/0002 with `opens`.
ALTER TABLE session_summaries_mv MODIFY QUERY
SELECT
    project,
    session_id,
    min(ts)                                           AS first_ts,
    max(ts)                                           AS last_ts,
    count()                                           AS steps,
    countIf(failed)                                   AS failed_steps,
    sum(input_tokens)                                 AS input_tokens,
    sum(output_tokens)                                AS output_tokens,
    sum(cache_read_tokens)                            AS cache_read_tokens,
    sum(cache_write_tokens)                           AS cache_write_tokens,
    sum(reasoning_tokens)                             AS reasoning_tokens,
    sum(ifNull(estimated_cost, 0))                    AS estimated_cost,
    groupUniqArrayIf(toString(agent_name), agent_name != '') AS agents,
    groupUniqArrayIf(toString(model_name), model_name != '') AS models,
    groupUniqArrayIf(user_id, user_id != '')          AS users,
    arrayMap(t -> toString(t), groupUniqArrayArray(tags)) AS tags,
    max(session_seq = 0)                              AS opens
FROM steps
GROUP BY project, session_id;

-- An AggregatingMergeTree merges a session's rows into one; its projection
-- is rebuilt from the merged rows (`rebuild`), so it never holds rows the
-- table no longer has.
ALTER TABLE session_summaries MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE session_summaries ADD PROJECTION IF NOT EXISTS by_start
(
    SELECT project, session_id, first_ts, last_ts, failed_steps, agents, models, users, opens
    ORDER BY project, first_ts
);
-- Builds it for the parts written before, in the background: a part
-- without it is read as before, so the list stays exact meanwhile.
ALTER TABLE session_summaries MATERIALIZE PROJECTION by_start;
