-- Sessions of a project whose last step is before the cutoff, that no
-- legal hold keeps (on the session, or on a user with a step in it), and
-- that this kind of expiry has not done yet. Read from the session
-- summaries, never the steps; bounded by `limit`, oldest first.
WITH held AS
(
    SELECT subject, id
    FROM legal_holds
    WHERE project = {project:String}
    GROUP BY subject, id
    HAVING argMax(held, at_us)
)
SELECT session_id
FROM session_summaries
WHERE project = {project:String}
  AND session_id NOT IN (SELECT id FROM held WHERE subject = 'session')
  AND session_id NOT IN (
      SELECT session_id FROM expirations
      WHERE project = {project:String} AND kind = {kind:String} AND {kind:String} = 'content')
GROUP BY session_id
HAVING max(last_ts) < fromUnixTimestamp64Micro({cutoff_us:Int64}, 'UTC')
   AND NOT hasAny(groupUniqArrayArray(users), (SELECT groupArray(id) FROM held WHERE subject = 'user'))
ORDER BY max(last_ts), session_id
LIMIT {limit:UInt32}
