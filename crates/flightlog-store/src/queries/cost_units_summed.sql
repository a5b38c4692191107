-- The units of cost (the units placeholder, with rollup rows among them)
-- summed per model, time and input band, and per the columns the query's
-- groups read (the model_provider, agent_name and tool_name placeholders:
-- the column, or '' when not grouped by it), before cost_by.sql prices
-- them: over 100M steps a cost by model × day then prices about 20,000
-- sums instead of 3M rollup rows (the README's costs figures). costs.rs
-- uses it only when the rollup rows are many (SUM_ROLLUPS_FROM) and no
-- group is by session or user, whose many values leave little to sum.
--
-- It prices what pricing each unit prices: token counts are integers;
-- within one model and time, units take the same price; and within one
-- input band they fall on the same side of a tier threshold that is a band
-- edge. A model with another threshold keeps each step's input apart (the
-- tier_input placeholder: its min_input for such models, else 0). Only the
-- floating-point order differs (a price times a sum, not a sum of
-- products), which can move a figure in its ninth decimal.
--
-- Sessions cannot be summed: costs.rs counts them apart, per group, from
-- the units before they were summed (cost_sessions_apart.sql).
SELECT
    model_key,
    ts,
    input_band,
    {{model_provider}} AS model_provider,
    {{agent_name}} AS agent_name,
    '' AS user_id,
    {{tool_name}} AS tool_name,
    {{tier_input}} AS tier_input,
    '' AS session_id,
    sum(u.steps) AS steps,
    sum(u.steps_with_tokens) AS steps_with_tokens,
    sum(u.failed_steps) AS failed_steps,
    min(u.min_input) AS min_input,
    sum(u.input_tokens) AS input_tokens,
    sum(u.uncached_tokens) AS uncached_tokens,
    sum(u.cache_read_tokens) AS cache_read_tokens,
    sum(u.cache_write_tokens) AS cache_write_tokens,
    sum(u.output_tokens) AS output_tokens,
    sum(u.output_less_reasoning) AS output_less_reasoning,
    sum(u.reasoning_tokens) AS reasoning_tokens,
    sum(u.reported_cost) AS reported_cost
FROM
(
{{units}}
) AS u
GROUP BY model_key, ts, input_band, model_provider, agent_name, tool_name, tier_input
