-- Who read what, newest first: one page of a project's access log, by
-- session, user, key and time. A user's reads are those filtered on the
-- user, those that returned the user's steps, and every read of a session
-- the user has steps in (an evidence bundle, a search hit). A session or
-- user filter also matches the reads of the whole project by time
-- (exports): they name no session and may have held any. The cursor is the
-- (at_us, read_id) of the last row of the page before; (max Int64, '')
-- starts at the newest.
SELECT
    at_us,
    read_id,
    key_id,
    front_end,
    route,
    session_id,
    filter,
    user_id,
    sessions,
    user_ids,
    items,
    whole_project
FROM access_log
WHERE project = {project:String}
  AND ({session:String} = '' OR has(sessions, {session:String}) OR whole_project)
  AND ({user:String} = '' OR user_id = {user:String} OR has(user_ids, {user:String}) OR whole_project
       OR hasAny(sessions, (SELECT groupUniqArray(session_id) FROM session_summaries
                            WHERE project = {project:String} AND {user:String} != '' AND has(users, {user:String}))))
  AND ({key_id:String} = '' OR key_id = {key_id:String})
  AND at_us >= {from_us:Int64}
  AND at_us < {to_us:Int64}
  AND at_us <= {before_us:Int64} -- for the primary-key index, which does not read the tuple comparison
  AND (at_us, read_id) < ({before_us:Int64}, {before_id:String})
ORDER BY at_us DESC, read_id DESC
LIMIT {limit:UInt32}
