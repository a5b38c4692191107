-- What an erased step did, as the guard and the detectors compare it: its
-- action key and result hash, taken from its content just before an
-- erasure (or a content expiry) blanked it. The guard rebuilds its memory
-- from storage at start-up, and an erased step's parameters are gone from
-- `steps`: without this row, a refund to an erased user was forgotten at
-- the next restart, and could be paid again. One row per erased step, by
-- its log position; never updated (a retry may write a row twice, alike).
CREATE TABLE IF NOT EXISTS erased_actions
(
    project    LowCardinality(String),
    log_index  UInt64,
    action_key UInt64,
    result     UInt64
)
ENGINE = MergeTree
ORDER BY log_index
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
