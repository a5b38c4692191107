-- A cost query over summed units (the costs placeholder: cost_by.sql with
-- cost_units_summed.sql, its sessions 0) with each group's distinct
-- sessions counted apart, from the units as they were before the sums
-- (the units placeholder). Counting them from the sums would carry a set
-- of session ids through every sum and its pricing: slower, and more
-- memory (the README's costs figures).
SELECT
    c.* EXCEPT (sessions),
    k.sessions AS sessions
FROM
(
{{costs}}
) AS c
LEFT JOIN
(
    SELECT {{groups}}, uniqExact(session_id) AS sessions
    FROM
    (
{{units}}
    )
    GROUP BY {{group_names}}
) AS k USING ({{group_names}})
ORDER BY cost DESC, {{group_names}}
LIMIT {limit:UInt32}
