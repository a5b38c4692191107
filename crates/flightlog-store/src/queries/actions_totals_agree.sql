-- Do the action counts account for exactly the stored tool runs?
SELECT
    (SELECT count() FROM steps WHERE tool_name != '')      AS source,
    (SELECT ifNull(sum(times), 0) FROM session_actions)    AS derived
