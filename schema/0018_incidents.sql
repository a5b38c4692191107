-- Incidents (issue 14): failure patterns the detectors found as steps
-- arrived (flightlog-model's detect). One row per state an incident
-- reached; an incident grows (count, last step, sessions) as its pattern
-- goes on, and the row with the highest count is its current state
-- (ReplacingMergeTree(count): a rebuild after a restart that finds the
-- same pattern again writes the same id, and never shrinks it).
--
-- id: stable for the pattern (inc_ + 20 hex digits of a hash of project,
-- kind and what it is about). kind: repeated_side_effect,
-- side_effect_across_sessions, loop, burst, runaway, cascading_failure.
-- sessions: those involved, first seen first (at most 20).
CREATE TABLE IF NOT EXISTS incidents
(
    project       LowCardinality(String),
    id            String,
    kind          LowCardinality(String),
    sessions      Array(String),
    agent_name    LowCardinality(String),
    user_id       String,
    tool_name     LowCardinality(String),
    first_session String,
    first_step    UInt64,
    first_us      Int64,
    last_session  String,
    last_step     UInt64,
    last_us       Int64,
    count         UInt64,
    message       String,
    updated_us    Int64
)
ENGINE = ReplacingMergeTree(count)
ORDER BY (project, id)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

-- What people did with an incident: acknowledged it, resolved it, opened
-- it again. Append-only; the newest row of an incident is its state (an
-- incident with none is open).
CREATE TABLE IF NOT EXISTS incident_states
(
    project LowCardinality(String),
    id      String,
    state   LowCardinality(String),
    at_us   Int64,
    by_key  String
)
ENGINE = MergeTree
ORDER BY (project, id, at_us)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

-- Alerts delivered (a webhook answered 2xx): the incident's count each
-- delivery carried. An incident is due again for a rule when its count
-- passed the last delivered one; what has no row here is still to send,
-- so a restart loses no alert (the incidents table is the outbox).
CREATE TABLE IF NOT EXISTS alert_deliveries
(
    project      LowCardinality(String),
    rule         String,
    incident_id  String,
    count        UInt64,
    delivered_us Int64,
    status       UInt16
)
ENGINE = MergeTree
ORDER BY (project, rule, incident_id, delivered_us)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
