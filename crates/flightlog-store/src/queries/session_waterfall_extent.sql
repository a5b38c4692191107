-- A session's extent for its waterfall: how many steps start in the range
-- [from_us, to_us), when its steps start and end, and the tokens spent
-- before the range (where the cumulative line starts). One primary-key
-- range read of a few columns.
SELECT
    countIf(ts_us >= {from_us:Int64} AND ts_us < {to_us:Int64})                    AS in_range,
    count()                                                                           AS steps,
    min(ts_us)                                                                        AS first_us,
    max(ts_us + ifNull(tool_duration_ms, 0) * 1000)                                   AS last_us,
    sumIf(input_tokens + output_tokens, ts_us < {from_us:Int64})                      AS tokens_before
FROM
(
    SELECT toUnixTimestamp64Micro(ts) AS ts_us, tool_duration_ms, input_tokens, output_tokens
    FROM steps
    WHERE project = {project:String} AND session_id = {session:String}
)
