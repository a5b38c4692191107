-- After a failed write, the ingest writer stays degraded until storage
-- takes a real durable write again, as big as the one that failed: one
-- row here with that many incompressible bytes, written and fsynced like
-- a group commit, then truncated. Reads alone succeed on a full disk, and a
-- small write may fit where a group commit does not, so neither proves it.
CREATE TABLE IF NOT EXISTS write_probes
(
    probed_at DateTime64(6, 'UTC'),
    payload   String CODEC(NONE)
)
ENGINE = MergeTree
ORDER BY probed_at
TTL toDateTime(probed_at) + INTERVAL 1 DAY
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
