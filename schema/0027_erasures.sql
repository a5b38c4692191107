-- Erasures of personal content (POST /v1/erasures): who asked for which
-- session and/or user, when and why, and what it blanked. One row per
-- erasure, never updated; each signed by the instance (flightlog-integrity's
-- erasure_message), so a row written behind its back (an erasure said to
-- have been asked for by someone else) is listed as unsigned, not trusted.
-- What the steps' erased fields prove is unchanged: this is the request's
-- record beside them.
CREATE TABLE IF NOT EXISTS erasures
(
    project       LowCardinality(String),
    at_us         Int64,
    session_id    String,
    user_id       String,
    reason        String,
    by_key        String,
    steps_erased  UInt64,
    fields_erased UInt64,
    signature     String
)
ENGINE = MergeTree
ORDER BY (project, at_us)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
