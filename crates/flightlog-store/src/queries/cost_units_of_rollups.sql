-- The cost rollups' rows as units of cost, in the columns of
-- cost_units_of_steps.sql, each timed at its hour's start (costs.rs reads
-- an hour here only when one price covers all of it).
SELECT
    project,
    session_id,
    toDateTime64(hour, 6, 'UTC') AS ts,
    model_key,
    model_provider,
    agent_name,
    user_id,
    tool_name,
    input_band,
    steps,
    steps_with_tokens,
    failed_steps,
    min_input,
    input_tokens,
    uncached_tokens,
    cache_read_tokens,
    cache_write_tokens,
    output_tokens,
    output_less_reasoning,
    reasoning_tokens,
    reported_cost
FROM cost_rollups
