-- A page of the session list ranked from a few known sessions (a
-- customer's, found first: sessions.rs), with their whole summaries, so
-- that the page needs no second read of the rows it lists.
--
-- The candidates are merged by grouping their rows: the summaries marker
-- is session_summaries_of.sql, its sessions parameter bound to the
-- candidates. Its columns carry the names and values (estimated_cost
-- rounded alike) that sessions_ranked.sql tests and sorts, so the filter's
-- conditions on merged values (the having marker, with the named lists
-- tested after the merge) and the page's order read the same here.
SELECT *
FROM
(
{{summaries}}
)
WHERE 1 {{having}}
ORDER BY {{order}}
LIMIT {limit:UInt32}
