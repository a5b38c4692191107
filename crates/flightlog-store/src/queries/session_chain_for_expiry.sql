-- A session's stored steps in acceptance order, with what its expiry
-- needs: log positions, where the hash chain stands, times and users (to
-- check again, just before expiring, that it is due and not held).
SELECT step, log_index, session_seq, lower(hex(chain_hash)) AS chain_hash, toUnixTimestamp64Micro(ts) AS ts_us, user_id
FROM steps
WHERE project = {project:String} AND session_id = {session:String}
ORDER BY session_seq, log_index
