-- One session's expiry records (a decision page's check of an erased step).
SELECT project, session_id, kind, log_indexes, last_link, next_seq, policy, expired_us, public_key, signature
FROM expirations
WHERE project = {project:String} AND session_id = {session:String}
ORDER BY expired_us, kind
