-- Signed tree heads of the Merkle log of accepted steps. Each says: "the
-- first tree_size steps in log order hash to root_hash", signed with the
-- instance's Ed25519 key. The signed message is
--   flightlog/checkpoint/v1\n<tree_size>\n<root_hash hex>\n<created_at µs>\n
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
