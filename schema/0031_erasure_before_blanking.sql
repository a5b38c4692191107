-- An erasure's record is kept before any content is blanked: verification
-- accepts an erased field only under a signed record that covers it (an
-- erasure record of its session or user, or a content expiry listing its
-- log position), so a field blanked behind Flightlog's back, its hash put
-- in `erased`, no longer reads as a lawful erasure; and a crash between
-- the record and the blanking leaves a record, whose erasure the writer
-- finishes, rather than half-erased steps no record explains.
--
-- log_through: the erasure covers the steps it matched at log positions
-- below it, and no step logged since. -1: a record kept before this
-- column (blanked first, then recorded), which covers its session's
-- and/or user's steps wherever they stand in the log.
ALTER TABLE erasures ADD COLUMN IF NOT EXISTS log_through Int64 DEFAULT -1;
-- The erasures whose content is all blanked, by their record's time and
-- signature (two records can share a time: a clock set back). A record
-- with log_through >= 0 and no row here was cut short, and the writer
-- finishes it (the steps it covers, less what holds keep now).
CREATE TABLE IF NOT EXISTS erasures_finished
(
    project   LowCardinality(String),
    at_us     Int64,
    signature String
)
ENGINE = MergeTree
ORDER BY (project, at_us)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
