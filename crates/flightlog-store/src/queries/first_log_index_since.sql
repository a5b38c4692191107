-- The first log position of a step timed at or after `since_us` (`end`
-- when there is none): where the detectors behind ingestion start again
-- to rebuild their memory of the last window (they compare steps by
-- their own timestamps). Steps timed after `until_us` (a clock far ahead)
-- are not counted, or one of them would hold the start back for ever.
-- The minmax index on ts prunes the rest.
SELECT if(count() = 0, {end:UInt64}, min(log_index)) AS log_index
FROM steps
WHERE ts >= fromUnixTimestamp64Micro({since_us:Int64}, 'UTC')
  AND ts <= fromUnixTimestamp64Micro({until_us:Int64}, 'UTC')
