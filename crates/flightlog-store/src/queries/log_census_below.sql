-- How many entries the log of record holds below a size, and at how many
-- distinct positions: a log that still holds each position 0..size-1 once
-- answers (size, size). Only the position column is read.
SELECT count() AS entries, groupBitmap(log_index) AS positions
FROM log_entries
WHERE log_index < {size:UInt64}
