-- A session's stored steps in acceptance order, with what its expiry
-- record keeps: log positions, and where the hash chain stands.
SELECT step, log_index, session_seq, lower(hex(chain_hash)) AS chain_hash
FROM steps
WHERE project = {project:String} AND session_id = {session:String}
ORDER BY session_seq, log_index
