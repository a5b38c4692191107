-- A start time near the top of a page sorted by start time: the earliest
-- (newest first) or latest (oldest first) start among the {sample} summary
-- rows that start nearest that end of the list, narrowed by the page's
-- cursor and time range where those tell where its sessions lie, and how
-- many rows there were (fewer than the sample: the whole list). Only a
-- guess at where the page ends: sessions.rs checks the page it gives.
-- The edge, near and direction markers take fixed fragments from sessions.rs.
-- Ordered by start time, this reads the edge of the projection by start
-- time (schema/0026, by_start before it) rather than every session.
SELECT toUnixTimestamp64Micro({{edge}}(first_ts)) AS threshold_us, count() AS rows
FROM
(
    SELECT first_ts
    FROM session_summaries
    WHERE project = {project:String}{{near}}
    ORDER BY first_ts {{direction}}
    LIMIT {sample:UInt64}
)
