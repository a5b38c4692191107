-- Token sums per hour × session × model × agent × user × tool (issue 16),
-- kept up to date by a materialized view like session_summaries, so that a
-- cost query reads these rows instead of every step.
--
-- No price is stored here: queries/cost_by.sql still prices at query time,
-- from these sums and the price valid at the hour, so a corrected price
-- list or a new override changes past figures exactly as before. What
-- makes a sum priceable exactly:
--   * the non-linear parts of the token accounting are applied per step
--     before summing: uncached input (input less cache reads and writes,
--     never below 0) and output less reasoning (never below 0);
--   * long-context calls are kept apart: input_band counts the band edges
--     (flightlog_model::cost_rollup::INPUT_BAND_EDGES) the call's input
--     exceeds, so a tier price whose threshold is an edge applies to whole
--     rows, and min_input says on which side of it they lie;
--   * an hour in which a model's price changes, and a model whose tier
--     threshold is not an edge, are read from the steps instead (costs.rs
--     decides, from the price tables, at each query).
-- The store compares this table's step count with the steps' at start-up
-- and rebuilds it if they disagree (a crash between the two parts of one
-- insert, or an upgrade: this migration does not backfill, the check does).
CREATE TABLE IF NOT EXISTS cost_rollups
(
    project               LowCardinality(String),
    hour                  DateTime64(0, 'UTC'),
    session_id            String,
    model_key             LowCardinality(String),
    model_provider        LowCardinality(String),
    agent_name            LowCardinality(String),
    user_id               String,
    tool_name             LowCardinality(String),
    input_band            UInt8,
    steps                 SimpleAggregateFunction(sum, UInt64),
    steps_with_tokens     SimpleAggregateFunction(sum, UInt64),
    failed_steps          SimpleAggregateFunction(sum, UInt64),
    min_input             SimpleAggregateFunction(min, UInt64),
    input_tokens          SimpleAggregateFunction(sum, UInt64),
    uncached_tokens       SimpleAggregateFunction(sum, UInt64),
    cache_read_tokens     SimpleAggregateFunction(sum, UInt64),
    cache_write_tokens    SimpleAggregateFunction(sum, UInt64),
    output_tokens         SimpleAggregateFunction(sum, UInt64),
    output_less_reasoning SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens      SimpleAggregateFunction(sum, UInt64),
    reported_cost         SimpleAggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree
ORDER BY (project, hour, session_id, model_key, model_provider, agent_name, user_id, tool_name, input_band)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

-- The view sums the steps' cost units (the inner query, which is
-- crates/flightlog-store/src/queries/cost_units_of_steps.sql verbatim) per
-- hour and key.
CREATE MATERIALIZED VIEW IF NOT EXISTS cost_rollups_mv TO cost_rollups AS
SELECT
    project,
    fromUnixTimestamp64Micro(intDiv(toUnixTimestamp64Micro(ts), 3600000000) * 3600000000, 'UTC') AS hour,
    session_id,
    model_key,
    model_provider,
    agent_name,
    user_id,
    tool_name,
    input_band,
    sum(steps)                 AS steps,
    sum(steps_with_tokens)     AS steps_with_tokens,
    sum(failed_steps)          AS failed_steps,
    min(min_input)             AS min_input,
    sum(input_tokens)          AS input_tokens,
    sum(uncached_tokens)       AS uncached_tokens,
    sum(cache_read_tokens)     AS cache_read_tokens,
    sum(cache_write_tokens)    AS cache_write_tokens,
    sum(output_tokens)         AS output_tokens,
    sum(output_less_reasoning) AS output_less_reasoning,
    sum(reasoning_tokens)      AS reasoning_tokens,
    sum(reported_cost)         AS reported_cost
FROM
(
    SELECT
        project,
        session_id,
        ts,
        model_key,
        model_provider,
        agent_name,
        user_id,
        tool_name,
        toUInt8(arrayCount(e -> input_tokens > e, [128000, 200000, 272000])) AS input_band,
        toUInt64(1) AS steps,
        toUInt64(input_tokens + output_tokens > 0) AS steps_with_tokens,
        toUInt64(failed) AS failed_steps,
        input_tokens AS min_input,
        input_tokens,
        toUInt64(greatest(toInt64(input_tokens) - toInt64(cache_read_tokens) - toInt64(cache_write_tokens), 0)) AS uncached_tokens,
        cache_read_tokens,
        cache_write_tokens,
        output_tokens,
        toUInt64(greatest(toInt64(output_tokens) - toInt64(reasoning_tokens), 0)) AS output_less_reasoning,
        reasoning_tokens,
        ifNull(estimated_cost, 0) AS reported_cost
    FROM steps
)
GROUP BY project, hour, session_id, model_key, model_provider, agent_name, user_id, tool_name, input_band;
