-- Where the log of accepted steps continues after a restart: after the
-- last entry of the log of record.
SELECT if(count() = 0, 0, max(log_index) + 1) AS next FROM log_entries
