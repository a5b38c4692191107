-- What retention expired, signed. One row per (session, kind): kind
-- 'content' blanked the session's full content (like an erasure, the field
-- hashes kept); kind 'steps' removed its steps from storage. The log of
-- record keeps every expired step's hash, and this record, signed with the
-- instance's key over
--   flightlog/expiry/v1\n then, each as <byte length>:<value>\n, the project, session_id,
--   kind, log positions (comma-separated), last chain link (hex), next
--   session position, policy and expired_us
-- lets verification tell an expired step from a deleted one: a row written
-- behind Flightlog's back has no valid signature.
--
-- Written before the steps are removed, with a deduplication token derived
-- from its content, so an expiry interrupted and run again writes it once.
-- last_link / next_seq: where the session's hash chain stood after its last
-- expired step, for a session that got new steps after it expired.
CREATE TABLE IF NOT EXISTS expirations
(
    project      LowCardinality(String),
    session_id   String,
    kind         LowCardinality(String),
    log_indexes  Array(UInt64),
    last_link    String,
    next_seq     UInt64,
    policy       String,
    expired_us   Int64,
    public_key   String,
    signature    String
)
ENGINE = MergeTree
ORDER BY (project, session_id, kind)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000,
         fsync_after_insert = 1, fsync_part_directory = 1;
