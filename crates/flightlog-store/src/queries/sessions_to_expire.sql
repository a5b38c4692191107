-- Sessions of a project whose last step is before the cutoff, that no
-- legal hold keeps (the session itself, or a user with a step in it; the
-- application core passes what is held), and, for content, whose content
-- has not expired since their last step, or that has more steps than its
-- content expiries cover among those still stored (a step that arrived
-- late, dated before that expiry, still holds its content). Read from the session summaries,
-- never the steps; bounded by `limit`, oldest first.
SELECT session_id
FROM session_summaries
LEFT JOIN
(
    -- The steps whose content expired and that are still stored: the
    -- positions the content records list, less those the steps records
    -- removed. (Counting every position a content record listed, a step
    -- sent again after its session's steps were removed was never picked:
    -- it kept its content until its steps expired.)
    SELECT session_id,
           maxIf(expired_us, kind = 'content') AS content_expired_us,
           bitmapAndnotCardinality(groupBitmapStateIf(position, kind = 'content'),
                                   groupBitmapStateIf(position, kind = 'steps')) AS content_covered_steps
    FROM expirations
    ARRAY JOIN log_indexes AS position
    -- Read for content only: the records only grow, and a steps record
    -- lists every position of its session.
    WHERE project = {project:String} AND {kind:String} = 'content'
    GROUP BY session_id
) AS done USING (session_id)
WHERE project = {project:String}
  AND NOT has({held_sessions:Array(String)}, session_id)
GROUP BY session_id
HAVING max(last_ts) < fromUnixTimestamp64Micro({cutoff_us:Int64}, 'UTC')
   AND NOT hasAny(groupUniqArrayArray(users), {held_users:Array(String)})
   AND ({kind:String} != 'content'
        OR toUnixTimestamp64Micro(max(last_ts)) > max(ifNull(done.content_expired_us, 0))
        OR sum(steps) > max(ifNull(done.content_covered_steps, 0)))
ORDER BY max(last_ts), session_id
LIMIT {limit:UInt32}
