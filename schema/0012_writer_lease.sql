-- Which Flightlog process writes the log of record, when several share one
-- ClickHouse (docs/scale-out.md, "Several Flightlog processes").
--
-- A process takes generation N by inserting its row with the deduplication
-- token `writer-lease-N`. ClickHouse keeps the first block inserted with a
-- token and silently drops every later one (for a replicated table, the
-- block ids are agreed in ClickHouse Keeper), so exactly one process holds
-- each generation: each claimant reads the holder back. This is the
-- engine's own compare-and-set; Flightlog adds no protocol of its own.
-- The holder renews by taking the next generation (one small row every
-- fifth of the lease's time to live; rows are never deleted, so that a
-- generation's token can never be claimed twice). Generations only grow; a
-- lease given up on a clean stop is a row with an empty holder.
CREATE TABLE IF NOT EXISTS writer_leases
(
    generation UInt64,
    holder     String,
    address    String,
    claimed_us Int64
)
ENGINE = MergeTree
ORDER BY generation
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000, fsync_after_insert = 1, fsync_part_directory = 1;
