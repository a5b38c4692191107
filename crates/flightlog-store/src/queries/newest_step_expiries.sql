-- The sessions of the newest whole-step expiries (schema/0015), by
-- project: those whose removal a crash or a failure may have cut short
-- between their steps going and their messages going (expirations.rs).
SELECT project, groupArray(session_id) AS sessions
FROM
(
    SELECT project, session_id
    FROM expirations
    WHERE kind = 'steps'
    ORDER BY expired_us DESC
    LIMIT {limit:UInt32}
)
GROUP BY project
ORDER BY project
