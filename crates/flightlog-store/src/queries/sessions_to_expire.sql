-- Sessions of a project whose last step is before the cutoff, that no
-- legal hold keeps (the session itself, or a user with a step in it; the
-- application core passes what is held), and, for content, whose content
-- has not expired since their last step. Read from the session summaries,
-- never the steps; bounded by `limit`, oldest first.
SELECT session_id
FROM session_summaries
LEFT JOIN
(
    SELECT session_id, max(expired_us) AS content_expired_us
    FROM expirations
    WHERE project = {project:String} AND kind = 'content'
    GROUP BY session_id
) AS done USING (session_id)
WHERE project = {project:String}
  AND NOT has({held_sessions:Array(String)}, session_id)
GROUP BY session_id
HAVING max(last_ts) < fromUnixTimestamp64Micro({cutoff_us:Int64}, 'UTC')
   AND NOT hasAny(groupUniqArrayArray(users), {held_users:Array(String)})
   AND ({kind:String} != 'content' OR toUnixTimestamp64Micro(max(last_ts)) > max(ifNull(done.content_expired_us, 0)))
ORDER BY max(last_ts), session_id
LIMIT {limit:UInt32}
