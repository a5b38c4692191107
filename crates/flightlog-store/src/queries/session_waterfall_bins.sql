-- A long session's waterfall in time slices of width_us from from_us: per
-- slice the steps that start in it, how many failed, their tokens, and the
-- step numbers they span. Aggregated by the engine; no step row leaves it.
SELECT
    intDiv(toUnixTimestamp64Micro(ts) - {from_us:Int64}, {width_us:Int64})   AS slice,
    count()                                                                  AS steps,
    countIf(failed)                                                          AS failed,
    sum(input_tokens + output_tokens)                                        AS tokens,
    min(step)                                                                AS first_step,
    max(step)                                                                AS last_step
FROM steps
WHERE project = {project:String} AND session_id = {session:String}
  AND toUnixTimestamp64Micro(ts) >= {from_us:Int64} AND toUnixTimestamp64Micro(ts) < {to_us:Int64}
GROUP BY slice
ORDER BY slice
