-- Each of these sessions' steps over its own life, in {slices} equal time
-- slices: the sparkline of a session list row.
SELECT
    session_id,
    toUInt64(least({slices:UInt64} - 1, intDiv((ts_us - first_us) * {slices:UInt64}, greatest(1, last_us - first_us + 1)))) AS slice,
    count() AS steps
FROM
(
    SELECT session_id, toUnixTimestamp64Micro(ts) AS ts_us,
           min(ts_us) OVER (PARTITION BY session_id) AS first_us,
           max(ts_us) OVER (PARTITION BY session_id) AS last_us
    FROM steps
    WHERE project = {project:String} AND session_id IN {sessions:Array(String)}
)
GROUP BY session_id, slice
