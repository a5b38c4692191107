-- The tamper-evident record (see flightlog-prove).
--
-- log_entries is the log of record: one row per accepted step, in order of
-- acceptance. Its step hashes are the leaves of the Merkle log that
-- checkpoints sign. The writer inserts it itself, right after the steps of a
-- group commit and before acknowledging them; not through a materialized
-- view, because then any row inserted into steps behind Flightlog's back
-- would enter the log of record too. Kept apart from steps so that a row
-- deleted, inserted, moved or rewritten in steps is found and named by
-- comparing the two, while every other session still proves against the
-- signed root. At start-up, a tail missing after a crash between the two
-- inserts is appended from steps (such a tail is after the last checkpoint:
-- not yet sealed); nothing else here is ever rewritten.
CREATE TABLE IF NOT EXISTS log_entries
(
    log_index  UInt64,
    project    LowCardinality(String),
    session_id String,
    step       UInt64,
    step_hash  FixedString(32)
)
ENGINE = MergeTree
ORDER BY log_index
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

-- Signed tree heads of the Merkle log. Each says: "the first tree_size log
-- entries hash to root_hash", signed with the instance's Ed25519 key. The
-- signed message is
--   flightlog/checkpoint/v1\n<tree_size>\n<root_hash hex>\n<created_us>\n
-- A later checkpoint must be consistent with every earlier one (the log
-- only grows), which a consistency proof between them shows.
CREATE TABLE IF NOT EXISTS checkpoints
(
    tree_size  UInt64,
    root_hash  FixedString(32),
    created_us Int64,
    public_key String,
    signature  String
)
ENGINE = MergeTree
ORDER BY tree_size
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
