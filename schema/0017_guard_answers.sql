-- The guard's answers (issue 14): one row per question an agent asked
-- before acting (`POST /v1/guard`), written shortly after it was answered
-- (in batches, off the answer's path). Append-only: Flightlog only ever
-- inserts here.
--
-- action_key: the hash of the tool and its canonical (redacted)
-- parameters, as the guard compares actions; the parameters themselves
-- are not kept. reason: '' when allowed, else already_done, in_a_loop,
-- over_budget or rate_limited. previous: the earlier successes the answer
-- named, most recent first, as JSON: [{"session_id", "step", "timestamp"}].
CREATE TABLE IF NOT EXISTS guard_answers
(
    project     LowCardinality(String),
    at_us       Int64,
    key_id      String,
    session_id  String,
    user_id     String,
    agent_name  LowCardinality(String),
    tool_name   LowCardinality(String),
    action_key  UInt64,
    allowed     Bool,
    reason      LowCardinality(String),
    message     String,
    previous    String
)
ENGINE = MergeTree
ORDER BY (project, at_us)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
