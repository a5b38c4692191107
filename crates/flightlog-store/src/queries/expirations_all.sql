-- Every signed expiry record, for verification.
SELECT project, session_id, kind, log_indexes, last_link, next_seq, policy, expired_us, public_key, signature
FROM expirations
ORDER BY project, session_id, kind, expired_us
