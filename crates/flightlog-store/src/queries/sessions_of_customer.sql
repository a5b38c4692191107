-- The sessions whose steps name one customer, for the session list's
-- filter by customer (sessions.rs). cost_rollups holds a row for each
-- customer of each session, and its projection by customer
-- (0023_sessions_by_customer.sql) makes them one range, where
-- session_summaries would read every session's list.
SELECT DISTINCT session_id
FROM cost_rollups
WHERE project = {project:String} AND user_id = {user:String}
