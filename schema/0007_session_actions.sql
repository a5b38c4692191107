-- How often each session ran each action (a tool with the same
-- parameters), for the "repeated side effect" anomaly: the same email sent
-- five times, the same record updated in a loop. Kept up to date by a
-- materialized view like session_summaries, so that flagging a page of
-- sessions, or filtering the list on flags, never scans the steps. The
-- parameters are kept only as a hash: erasing them from a step (GDPR)
-- leaves nothing personal here.
CREATE TABLE IF NOT EXISTS session_actions
(
    project     LowCardinality(String),
    session_id  String,
    tool_name   LowCardinality(String),
    params_hash UInt64,
    times       SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (project, session_id, tool_name, params_hash)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS session_actions_mv TO session_actions AS
SELECT project, session_id, tool_name, cityHash64(tool_params) AS params_hash, count() AS times
FROM steps
WHERE tool_name != ''
GROUP BY project, session_id, tool_name, params_hash;

-- Steps stored before this migration.
INSERT INTO session_actions
SELECT project, session_id, tool_name, cityHash64(tool_params), count()
FROM steps
WHERE tool_name != ''
GROUP BY project, session_id, tool_name, cityHash64(tool_params);
