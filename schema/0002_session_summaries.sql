-- One row per session (after merges), kept up to date by a materialized
-- view on steps, so that the session list never scans the steps table.
-- Duplicates never reach steps (the writer drops them first), so the sums
-- are exact. The store compares the two tables' totals at start-up and
-- rebuilds this one if a crash ever left them apart.
CREATE TABLE IF NOT EXISTS session_summaries
(
    project            LowCardinality(String),
    session_id         String,
    first_ts           SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_ts            SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    steps              SimpleAggregateFunction(sum, UInt64),
    failed_steps       SimpleAggregateFunction(sum, UInt64),
    input_tokens       SimpleAggregateFunction(sum, UInt64),
    output_tokens      SimpleAggregateFunction(sum, UInt64),
    cache_read_tokens  SimpleAggregateFunction(sum, UInt64),
    cache_write_tokens SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens   SimpleAggregateFunction(sum, UInt64),
    estimated_cost     SimpleAggregateFunction(sum, Float64),
    agents             SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    models             SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    users              SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    tags               SimpleAggregateFunction(groupUniqArrayArray, Array(String))
)
ENGINE = AggregatingMergeTree
ORDER BY (project, session_id)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS session_summaries_mv TO session_summaries AS
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
    arrayMap(t -> toString(t), groupUniqArrayArray(tags)) AS tags
FROM steps
GROUP BY project, session_id;
