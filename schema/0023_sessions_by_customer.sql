-- A page of the session list that names one customer (issue 16) needs the
-- sessions whose steps name them. session_summaries keeps a session's
-- customers in a list, ordered by session id and, in its projection, by
-- start time: with random ids nothing there narrows a read to one
-- customer, so the page read every session's list, or the start-time
-- projection back to the customer's 50th newest session (over 1M sessions
-- of 5,000 customers, a quarter of it).
--
-- cost_rollups already holds a row for every customer of every session
-- (its key names them), written by its view with every step. This
-- projection orders those rows by customer, so that a customer's sessions
-- are one range of it (sessions.rs, ranked_from_the_customers_sessions).
-- A projection is written inside each part of the table, in the same
-- insert: it needs no view of its own on the ingest path, and it is
-- rebuilt with the table whenever the store repairs or recomputes it.
--
-- Like session_summaries (0022), an AggregatingMergeTree rebuilds its
-- projections from the merged rows, so they never hold rows the table no
-- longer has.
ALTER TABLE cost_rollups MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE cost_rollups ADD PROJECTION IF NOT EXISTS by_user
(
    SELECT project, user_id, session_id
    ORDER BY project, user_id, session_id
);
-- Builds it for the parts written before, in the background: a part
-- without it is read from the table itself, so pages stay exact meanwhile.
ALTER TABLE cost_rollups MATERIALIZE PROJECTION by_user;
