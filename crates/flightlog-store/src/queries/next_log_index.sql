-- Where the log of accepted steps continues after a restart.
SELECT if(count() = 0, 0, max(log_index) + 1) AS next FROM steps
