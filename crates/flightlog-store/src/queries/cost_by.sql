-- What a project's steps in [from, to) cost, grouped by the chosen
-- dimensions. Cost is computed now, from token counts and the price valid
-- at the step's time (ASOF join on effective_from), never stored: a
-- corrected price list changes past figures too.
--
-- What is priced are units of cost (the units placeholder): single steps
-- (cost_units_of_steps.sql) and, for the whole hours that one price covers,
-- the hourly cost rollups (cost_units_of_rollups.sql), which sum the same
-- columns; costs.rs chooses which units cover which part of the range.
--
-- Token accounting (the OpenTelemetry convention): input_tokens include
-- cached reads and writes, so uncached input = input - cache_read -
-- cache_write, each part at its own price; reasoning tokens are part of
-- output_tokens and billed as output unless the model has a reasoning price.
-- Above tier_threshold input tokens in one call, the tier prices apply.
-- A step with tokens but no price is counted as unpriced, never as free.
-- The project's price overrides (those in force: the overrides marker,
-- price_overrides_in_force.sql) win over the list from their effective
-- date on (see the look-up below).
--
-- The groups, group names, sessions and units placeholders take fixed
-- fragments chosen in costs.rs; every value is a bound parameter.
SELECT
    {{groups}},
    sum(steps)                                        AS steps,
    {{sessions}}                                      AS sessions,
    sum(input_tokens)                                 AS input_tokens,
    sum(cache_read_tokens)                            AS cache_read_tokens,
    sum(cache_write_tokens)                           AS cache_write_tokens,
    sum(output_tokens)                                AS output_tokens,
    sum(reasoning_tokens)                             AS reasoning_tokens,
    round(sum(cost), 9)                               AS cost,
    round(sum(reported_cost), 9)                      AS reported_cost,
    -- The client's own estimate is off by more than 1% (or a millionth of
    -- a dollar): a buggy estimate, a stale price list, or ours missing.
    -- No estimate sent (a sum of 0: the rollups keep no count of them) is
    -- not an estimate that differs.
    toBool(reported_cost != 0 AND abs(cost - reported_cost) > greatest(0.01 * cost, 0.000001)) AS estimate_differs,
    sum(unpriced_steps)                               AS unpriced_steps,
    sum(failed_steps)                                 AS failed_steps
FROM
(
    SELECT
        s.session_id AS session_id, s.ts AS ts, s.model_key AS model_key, s.model_provider AS model_provider,
        s.agent_name AS agent_name, s.user_id AS user_id, s.tool_name AS tool_name,
        s.steps AS steps, s.failed_steps AS failed_steps, s.input_tokens AS input_tokens,
        s.cache_read_tokens AS cache_read_tokens, s.cache_write_tokens AS cache_write_tokens,
        s.output_tokens AS output_tokens, s.reasoning_tokens AS reasoning_tokens, s.reported_cost AS reported_cost,
        p.model_key = ''                                                 AS no_price,
        if(no_price, s.steps_with_tokens, 0)                             AS unpriced_steps,
        p.input                                                          AS base_input,
        p.output                                                         AS base_output,
        p.cache_read                                                     AS base_cache_read,
        p.cache_write                                                    AS base_cache_write,
        p.reasoning                                                      AS reasoning_price,
        p.tier_threshold                                                 AS tier_threshold,
        -- Every step of a unit lies on one side of the threshold (the
        -- rollups' input bands), so its smallest input decides.
        tier_threshold > 0 AND s.min_input > tier_threshold               AS tiered,
        if(tiered, ifNull(p.tier_input, base_input), base_input)                AS input_price,
        if(tiered, ifNull(p.tier_output, base_output), base_output)            AS output_price,
        if(tiered, ifNull(p.tier_cache_read, base_cache_read), base_cache_read) AS cache_read_price,
        if(tiered, ifNull(p.tier_cache_write, base_cache_write), base_cache_write) AS cache_write_price,
        if(isNull(reasoning_price), s.output_tokens, s.output_less_reasoning) AS billed_output,
        if(no_price, 0,
           (s.uncached_tokens * input_price
            + s.cache_read_tokens * cache_read_price
            + s.cache_write_tokens * cache_write_price
            + billed_output * output_price
            + if(isNull(reasoning_price), 0, s.reasoning_tokens * assumeNotNull(reasoning_price))) / 1e6) AS cost
    FROM
    (
{{units}}
    ) AS s
    -- The prices in force for the project, looked up once per unit: its
    -- own rows, and the list's rows older than its first row for that
    -- model. The newest row at or before a unit's time is then its
    -- override when one applies, else the list's price, as two look-ups
    -- (overrides, then the list) would find; one took a quarter less time
    -- over 3M rollup rows (the README's costs figures).
    ASOF LEFT JOIN
    (
        SELECT l.model_key AS model_key, l.effective_from AS effective_from, l.input AS input, l.output AS output,
               l.cache_read AS cache_read, l.cache_write AS cache_write, l.reasoning AS reasoning,
               l.tier_threshold AS tier_threshold, l.tier_input AS tier_input, l.tier_output AS tier_output,
               l.tier_cache_read AS tier_cache_read, l.tier_cache_write AS tier_cache_write
        FROM prices AS l
        LEFT JOIN
        (
            SELECT model_key, min(effective_from) AS first
            FROM price_overrides
            WHERE project = {project:String}
            GROUP BY model_key
        ) AS own ON l.model_key = own.model_key
        WHERE own.model_key = '' OR l.effective_from < own.first
        UNION ALL
        SELECT model_key, effective_from, input, output, cache_read, cache_write, reasoning,
               tier_threshold, tier_input, tier_output, tier_cache_read, tier_cache_write
        FROM ({{overrides}})
    ) AS p ON s.model_key = p.model_key AND s.ts >= p.effective_from
)
GROUP BY {{group_names}}
ORDER BY cost DESC, {{group_names}}
LIMIT {limit:UInt32}
