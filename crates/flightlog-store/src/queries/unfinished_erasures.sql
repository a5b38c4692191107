-- Erasures recorded before their content was blanked (schema/0031) and not
-- marked finished: a crash or a failed mutation cut them short, and the
-- writer finishes them. Records kept before that order (log_through -1)
-- were written once the content was blanked.
SELECT project, at_us, session_id, user_id, reason, by_key, steps_erased, fields_erased, signature, log_through
FROM erasures
WHERE log_through >= 0
  AND (project, at_us, signature) NOT IN (SELECT project, at_us, signature FROM erasures_finished)
ORDER BY at_us
LIMIT {limit:UInt32}
