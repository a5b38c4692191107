-- Each step as a unit of cost: what cost_by.sql prices, and what the cost
-- rollups sum per hour (schema/0020_cost_rollups.sql holds this same text
-- as its view's inner query; a test in cost_rollups.rs keeps the two equal). The
-- parts of the token accounting that are not linear are taken per step
-- here, so that sums of them price exactly: uncached input (input less
-- cache reads and writes, never below 0), output less reasoning (never
-- below 0), and the input band of long-context calls.
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
