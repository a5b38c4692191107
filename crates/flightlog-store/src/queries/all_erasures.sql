-- Every erasure record of every project (a verification of the whole log:
-- one row per erasure request, few beside the steps).
SELECT project, at_us, session_id, user_id, reason, by_key, steps_erased, fields_erased, signature, log_through
FROM erasures
ORDER BY project, at_us
