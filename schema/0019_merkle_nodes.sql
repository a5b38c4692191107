-- Interior nodes of the log of record's Merkle tree (issue 16), so that an
-- inclusion or consistency proof reads O(log n) small pieces instead of
-- every leaf of the log. Every 4th height is kept (4, 8, 12, …): node
-- (height, idx) is the root of leaves [idx·2^height, (idx+1)·2^height).
--
-- A cache, not evidence: they are computed from log_entries by the process
-- that signs checkpoints, before it signs, and a proof built from a node
-- changed here does not verify against the signed root (a bundle's check
-- then fails; verify --all never reads them). Rewritten only with the same
-- value (a run that is repeated after a crash), hence Replacing.
CREATE TABLE IF NOT EXISTS merkle_nodes
(
    height UInt8,
    idx    UInt64,
    hash   FixedString(32)
)
ENGINE = ReplacingMergeTree
ORDER BY (height, idx)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
