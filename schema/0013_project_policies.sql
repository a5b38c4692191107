-- Each project's policies, one row per change, never updated: the newest
-- row of a (project, kind) is in force, and the older ones say what was in
-- force when (an auditor asks which redaction or retention policy applied
-- to a step). kind is 'redaction' or 'retention'; body is the policy as
-- JSON (flightlog-redact's Policy without its secret, or the model's
-- Retention); set_by is the admin key id that set it.
CREATE TABLE IF NOT EXISTS project_policies
(
    project LowCardinality(String),
    kind    LowCardinality(String),
    body    String,
    set_us  Int64,
    set_by  String
)
ENGINE = MergeTree
ORDER BY (project, kind, set_us)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
