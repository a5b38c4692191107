-- A project's expiry records, newest first.
SELECT project, session_id, kind, log_indexes, last_link, next_seq, policy, expired_us, public_key, signature
FROM expirations
WHERE project = {project:String}
ORDER BY expired_us DESC, session_id, kind
LIMIT {limit:UInt32}
