-- Each project's policies, one row per change, never updated: the newest
-- row of a (project, kind) is in force, and the older ones say what was in
-- force when (an auditor asks which redaction or retention policy applied
-- to a step). kind is 'redaction' or 'retention'; body is the policy as
-- JSON (flightlog-redact's Policy without its secret, or the model's
-- Retention); set_by is the admin key id that set it. signature: the
-- instance's Ed25519 signature over the row (flightlog-integrity's
-- policy_message): a row written behind Flightlog's back (a policy that
-- would expire everything tomorrow, or redact nothing) has none that
-- verifies and is ignored.
CREATE TABLE IF NOT EXISTS project_policies
(
    project LowCardinality(String),
    kind    LowCardinality(String),
    body    String,
    set_us  Int64,
    set_by  String,
    signature String
)
ENGINE = MergeTree
ORDER BY (project, kind, set_us)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
