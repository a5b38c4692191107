-- The similar-failure indexer's high-water mark, per vector index, kept in
-- the store rather than a local file: every Flightlog process on one
-- ClickHouse reads the same mark for a shared index (a Qdrant server), and
-- a process that loses its folder keeps it. The newest save of a mark wins
-- (ReplacingMergeTree by the time it was saved).
CREATE TABLE IF NOT EXISTS indexer_marks
(
    index_name     String,
    next_log_index UInt64,
    model          String,
    dimension      UInt32,
    saved_us       Int64
)
ENGINE = ReplacingMergeTree(saved_us)
ORDER BY index_name
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
