-- Legal holds: a session, or every session of a user, kept whatever the
-- retention policy says. One row per placement or release, never updated;
-- the newest row of a subject says whether it is held now, and the rows
-- together say who held or released it when and why. Each row is signed
-- by the instance (flightlog-integrity's hold_message); an unsigned release
-- written behind its back is ignored, so the hold stands.
CREATE TABLE IF NOT EXISTS legal_holds
(
    project LowCardinality(String),
    subject LowCardinality(String),
    id      String,
    held    Bool,
    reason  String,
    at_us   Int64,
    by_key  String,
    signature String
)
ENGINE = MergeTree
ORDER BY (project, subject, id, at_us)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
