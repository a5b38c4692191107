CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER `flightlog`
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/schema_migrations', '{replica}')
ORDER BY version;

CREATE TABLE IF NOT EXISTS steps ON CLUSTER `flightlog`
(
    project            LowCardinality(String),
    session_id         String,
    step               UInt64,
    ts                 DateTime64(6, 'UTC'),

    agent_name         LowCardinality(String),
    agent_version      LowCardinality(String),

    reasoning          String CODEC(ZSTD(1)),
    considered_tools   Array(LowCardinality(String)),
    chosen_tool        LowCardinality(String),
    confidence         Nullable(Float64),

    tool_name          LowCardinality(String),
    tool_params        String CODEC(ZSTD(1)),
    tool_result        String CODEC(ZSTD(1)),
    tool_status        LowCardinality(String),
    tool_error         String CODEC(ZSTD(1)),
    tool_duration_ms   Nullable(UInt64),

    model_provider     LowCardinality(String),
    model_name         LowCardinality(String),
    model_version      LowCardinality(String),
    model_key          LowCardinality(String),
    temperature        Nullable(Float64),
    top_p              Nullable(Float64),
    seed               Nullable(Int64),
    max_tokens         Nullable(UInt64),

    prompt_system      String CODEC(ZSTD(1)),
    prompt_messages    String CODEC(ZSTD(1)),
    completion         String CODEC(ZSTD(1)),

    input_tokens       UInt64,
    output_tokens      UInt64,
    cache_read_tokens  UInt64,
    cache_write_tokens UInt64,
    reasoning_tokens   UInt64,
    estimated_cost     Nullable(Float64),

    user_id            String,
    tags               Array(LowCardinality(String)),
    metadata           String CODEC(ZSTD(1)),

    raw                String CODEC(ZSTD(1)),
    failed             Bool,
    step_hash          FixedString(32),
    erased             Map(String, FixedString(32)),
    session_seq        UInt64,
    chain_hash         FixedString(32),
    log_index          UInt64,
    received_at        DateTime64(6, 'UTC'),

    INDEX ts_range ts TYPE minmax GRANULARITY 1
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/steps', '{replica}')
ORDER BY (project, session_id, step)
SETTINGS index_granularity = 2048, min_bytes_for_wide_part = 268435456,
         fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS session_summaries ON CLUSTER `flightlog`
(
    project            LowCardinality(String),
    session_id         String,
    first_ts           SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_ts            SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    steps              SimpleAggregateFunction(sum, UInt64),
    failed_steps       SimpleAggregateFunction(sum, UInt64),
    input_tokens       SimpleAggregateFunction(sum, UInt64),
    output_tokens      SimpleAggregateFunction(sum, UInt64),
    cache_read_tokens  SimpleAggregateFunction(sum, UInt64),
    cache_write_tokens SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens   SimpleAggregateFunction(sum, UInt64),
    estimated_cost     SimpleAggregateFunction(sum, Float64),
    agents             SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    models             SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    users              SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    tags               SimpleAggregateFunction(groupUniqArrayArray, Array(String))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/session_summaries', '{replica}')
ORDER BY (project, session_id)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS session_summaries_mv ON CLUSTER `flightlog` TO session_summaries AS
SELECT
    project,
    session_id,
    min(ts)                                           AS first_ts,
    max(ts)                                           AS last_ts,
    count()                                           AS steps,
    countIf(failed)                                   AS failed_steps,
    sum(input_tokens)                                 AS input_tokens,
    sum(output_tokens)                                AS output_tokens,
    sum(cache_read_tokens)                            AS cache_read_tokens,
    sum(cache_write_tokens)                           AS cache_write_tokens,
    sum(reasoning_tokens)                             AS reasoning_tokens,
    sum(ifNull(estimated_cost, 0))                    AS estimated_cost,
    groupUniqArrayIf(toString(agent_name), agent_name != '') AS agents,
    groupUniqArrayIf(toString(model_name), model_name != '') AS models,
    groupUniqArrayIf(user_id, user_id != '')          AS users,
    arrayMap(t -> toString(t), groupUniqArrayArray(tags)) AS tags
FROM steps
GROUP BY project, session_id;

CREATE TABLE IF NOT EXISTS api_keys ON CLUSTER `flightlog`
(
    key_id     String,
    key_hash   FixedString(32),
    project    LowCardinality(String),
    scopes     Array(LowCardinality(String)),
    name       String,
    created_at DateTime64(3, 'UTC'),
    revoked_at Nullable(DateTime64(3, 'UTC')),
    version    UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/api_keys', '{replica}', version)
ORDER BY key_id
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS log_entries ON CLUSTER `flightlog`
(
    log_index  UInt64,
    project    LowCardinality(String),
    session_id String,
    step       UInt64,
    step_hash  FixedString(32)
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/log_entries', '{replica}')
ORDER BY log_index
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS checkpoints ON CLUSTER `flightlog`
(
    tree_size  UInt64,
    root_hash  FixedString(32),
    created_us Int64,
    public_key String,
    signature  String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/checkpoints', '{replica}')
ORDER BY tree_size
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS prices ON CLUSTER `flightlog`
(
    provider        LowCardinality(String),
    model_key       LowCardinality(String),
    effective_from  DateTime64(6, 'UTC'),
    input           Float64,
    output          Float64,
    cache_read      Float64,
    cache_write     Float64,
    reasoning       Nullable(Float64),
    tier_threshold  UInt64,
    tier_input      Nullable(Float64),
    tier_output     Nullable(Float64),
    tier_cache_read Nullable(Float64),
    source          String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/prices', '{replica}')
ORDER BY (model_key, effective_from);

CREATE TABLE IF NOT EXISTS price_overrides ON CLUSTER `flightlog`
(
    project         LowCardinality(String),
    model_key       LowCardinality(String),
    effective_from  DateTime64(6, 'UTC'),
    input           Float64,
    output          Float64,
    cache_read      Float64,
    cache_write     Float64,
    reasoning       Nullable(Float64),
    tier_threshold  UInt64,
    tier_input      Nullable(Float64),
    tier_output     Nullable(Float64),
    tier_cache_read Nullable(Float64),
    note            String,
    created_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/price_overrides', '{replica}')
ORDER BY (project, model_key, effective_from)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

ALTER TABLE steps ON CLUSTER `flightlog` ADD INDEX IF NOT EXISTS log_index_range log_index TYPE minmax GRANULARITY 1;

ALTER TABLE steps ON CLUSTER `flightlog` MATERIALIZE INDEX log_index_range;

CREATE TABLE IF NOT EXISTS session_actions ON CLUSTER `flightlog`
(
    project     LowCardinality(String),
    session_id  String,
    tool_name   LowCardinality(String),
    params_hash UInt64,
    times       SimpleAggregateFunction(sum, UInt64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/session_actions', '{replica}')
ORDER BY (project, session_id, tool_name, params_hash)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS session_actions_mv ON CLUSTER `flightlog` TO session_actions AS
SELECT project, session_id, tool_name, cityHash64(tool_params) AS params_hash, count() AS times
FROM steps
WHERE tool_name != ''
GROUP BY project, session_id, tool_name, params_hash;

INSERT INTO session_actions
SELECT project, session_id, tool_name, cityHash64(tool_params), count()
FROM steps
WHERE tool_name != ''
GROUP BY project, session_id, tool_name, cityHash64(tool_params);

CREATE TABLE IF NOT EXISTS web_sessions ON CLUSTER `flightlog`
(
    token_hash FixedString(32),
    key_id     String,
    project    LowCardinality(String),
    created_at DateTime64(3, 'UTC'),
    expires_at DateTime64(3, 'UTC'),
    revoked_at Nullable(DateTime64(3, 'UTC')),
    version    UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/web_sessions', '{replica}', version)
ORDER BY token_hash
TTL toDateTime(expires_at) + INTERVAL 1 DAY
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS write_probes ON CLUSTER `flightlog`
(
    probed_at DateTime64(6, 'UTC'),
    payload   String CODEC(NONE)
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/write_probes', '{replica}')
ORDER BY probed_at
TTL toDateTime(probed_at) + INTERVAL 1 DAY
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

ALTER TABLE steps ON CLUSTER `flightlog` ADD COLUMN IF NOT EXISTS key_decision Bool ALIAS
    failed OR (match(chosen_tool, '[^\\t\\n\\v\\f\\r\\x{85}\\pZ]') AND match(reasoning, '[^\\t\\n\\v\\f\\r\\x{85}\\pZ]'));

CREATE TABLE IF NOT EXISTS indexer_marks ON CLUSTER `flightlog`
(
    index_name     String,
    next_log_index UInt64,
    model          String,
    dimension      UInt32,
    saved_us       Int64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/indexer_marks', '{replica}', saved_us)
ORDER BY index_name
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS writer_leases ON CLUSTER `flightlog`
(
    generation UInt64,
    holder     String,
    address    String,
    claimed_us Int64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/writer_leases', '{replica}')
ORDER BY generation
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000, fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS project_policies ON CLUSTER `flightlog`
(
    project LowCardinality(String),
    kind    LowCardinality(String),
    body    String,
    set_us  Int64,
    set_by  String,
    signature String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/project_policies', '{replica}')
ORDER BY (project, kind, set_us)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS legal_holds ON CLUSTER `flightlog`
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/legal_holds', '{replica}')
ORDER BY (project, subject, id, at_us)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS expirations ON CLUSTER `flightlog`
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/expirations', '{replica}')
ORDER BY (project, session_id, kind)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000,
         fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS access_log ON CLUSTER `flightlog`
(
    project       LowCardinality(String),
    at_us         Int64,
    read_id       String,
    key_id        String,
    front_end     LowCardinality(String),
    route         LowCardinality(String),
    session_id    String,
    filter        String,
    user_id       String,
    sessions      Array(String),
    user_ids      Array(String),
    items         UInt64,
    whole_project Bool,
    INDEX sessions_read sessions TYPE bloom_filter GRANULARITY 4,
    INDEX users_read user_ids TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/access_log', '{replica}')
ORDER BY (project, at_us, read_id)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS guard_answers ON CLUSTER `flightlog`
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/guard_answers', '{replica}')
ORDER BY (project, at_us)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS incidents ON CLUSTER `flightlog`
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/incidents', '{replica}', count)
ORDER BY (project, id)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS incident_states ON CLUSTER `flightlog`
(
    project LowCardinality(String),
    id      String,
    state   LowCardinality(String),
    at_us   Int64,
    by_key  String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/incident_states', '{replica}')
ORDER BY (project, id, at_us)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS alert_deliveries ON CLUSTER `flightlog`
(
    project      LowCardinality(String),
    rule         String,
    incident_id  String,
    count        UInt64,
    delivered_us Int64,
    status       UInt16
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/alert_deliveries', '{replica}')
ORDER BY (project, rule, incident_id, delivered_us)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS merkle_nodes ON CLUSTER `flightlog`
(
    height UInt8,
    idx    UInt64,
    hash   FixedString(32)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/merkle_nodes', '{replica}')
ORDER BY (height, idx)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS cost_rollups ON CLUSTER `flightlog`
(
    project               LowCardinality(String),
    hour                  DateTime64(0, 'UTC'),
    session_id            String,
    model_key             LowCardinality(String),
    model_provider        LowCardinality(String),
    agent_name            LowCardinality(String),
    user_id               String,
    tool_name             LowCardinality(String),
    input_band            UInt8,
    steps                 SimpleAggregateFunction(sum, UInt64),
    steps_with_tokens     SimpleAggregateFunction(sum, UInt64),
    failed_steps          SimpleAggregateFunction(sum, UInt64),
    min_input             SimpleAggregateFunction(min, UInt64),
    input_tokens          SimpleAggregateFunction(sum, UInt64),
    uncached_tokens       SimpleAggregateFunction(sum, UInt64),
    cache_read_tokens     SimpleAggregateFunction(sum, UInt64),
    cache_write_tokens    SimpleAggregateFunction(sum, UInt64),
    output_tokens         SimpleAggregateFunction(sum, UInt64),
    output_less_reasoning SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens      SimpleAggregateFunction(sum, UInt64),
    reported_cost         SimpleAggregateFunction(sum, Float64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/cost_rollups', '{replica}')
ORDER BY (project, hour, session_id, model_key, model_provider, agent_name, user_id, tool_name, input_band)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_rollups_mv ON CLUSTER `flightlog` TO cost_rollups AS
SELECT
    project,
    fromUnixTimestamp64Micro(intDiv(toUnixTimestamp64Micro(ts), 3600000000) * 3600000000, 'UTC') AS hour,
    session_id,
    model_key,
    model_provider,
    agent_name,
    user_id,
    tool_name,
    input_band,
    sum(steps)                 AS steps,
    sum(steps_with_tokens)     AS steps_with_tokens,
    sum(failed_steps)          AS failed_steps,
    min(min_input)             AS min_input,
    sum(input_tokens)          AS input_tokens,
    sum(uncached_tokens)       AS uncached_tokens,
    sum(cache_read_tokens)     AS cache_read_tokens,
    sum(cache_write_tokens)    AS cache_write_tokens,
    sum(output_tokens)         AS output_tokens,
    sum(output_less_reasoning) AS output_less_reasoning,
    sum(reasoning_tokens)      AS reasoning_tokens,
    sum(reported_cost)         AS reported_cost
FROM
(
    SELECT
        project,
        session_id,
        ts,
        model_key,
        model_provider,
        agent_name,
        user_id,
        tool_name,
        toUInt8(arrayCount(e -> input_tokens > e, [128000, 200000, 272000])) AS input_band,
        toUInt64(1) AS steps,
        toUInt64(input_tokens + output_tokens > 0) AS steps_with_tokens,
        toUInt64(failed) AS failed_steps,
        input_tokens AS min_input,
        input_tokens,
        toUInt64(greatest(toInt64(input_tokens) - toInt64(cache_read_tokens) - toInt64(cache_write_tokens), 0)) AS uncached_tokens,
        cache_read_tokens,
        cache_write_tokens,
        output_tokens,
        toUInt64(greatest(toInt64(output_tokens) - toInt64(reasoning_tokens), 0)) AS output_less_reasoning,
        reasoning_tokens,
        ifNull(estimated_cost, 0) AS reported_cost
    FROM steps
)
GROUP BY project, hour, session_id, model_key, model_provider, agent_name, user_id, tool_name, input_band;

ALTER TABLE steps ON CLUSTER `flightlog` COMMENT COLUMN raw 'The canonical JSON of the step without the content its typed columns hold exactly; reads put it back (flightlog_model::stored)';

ALTER TABLE session_summaries ON CLUSTER `flightlog` ADD COLUMN IF NOT EXISTS opens SimpleAggregateFunction(max, UInt8) DEFAULT 1;

ALTER TABLE session_summaries_mv ON CLUSTER `flightlog` MODIFY QUERY
SELECT
    project,
    session_id,
    min(ts)                                           AS first_ts,
    max(ts)                                           AS last_ts,
    count()                                           AS steps,
    countIf(failed)                                   AS failed_steps,
    sum(input_tokens)                                 AS input_tokens,
    sum(output_tokens)                                AS output_tokens,
    sum(cache_read_tokens)                            AS cache_read_tokens,
    sum(cache_write_tokens)                           AS cache_write_tokens,
    sum(reasoning_tokens)                             AS reasoning_tokens,
    sum(ifNull(estimated_cost, 0))                    AS estimated_cost,
    groupUniqArrayIf(toString(agent_name), agent_name != '') AS agents,
    groupUniqArrayIf(toString(model_name), model_name != '') AS models,
    groupUniqArrayIf(user_id, user_id != '')          AS users,
    arrayMap(t -> toString(t), groupUniqArrayArray(tags)) AS tags,
    max(session_seq = 0)                              AS opens
FROM steps
GROUP BY project, session_id;

ALTER TABLE session_summaries ON CLUSTER `flightlog` MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';

ALTER TABLE session_summaries ON CLUSTER `flightlog` ADD PROJECTION IF NOT EXISTS by_start
(
    SELECT project, session_id, first_ts, last_ts, failed_steps, agents, models, users, opens
    ORDER BY project, first_ts
);

ALTER TABLE session_summaries ON CLUSTER `flightlog` MATERIALIZE PROJECTION by_start;

CREATE TABLE IF NOT EXISTS step_contents ON CLUSTER `flightlog`
(
    project    LowCardinality(String),
    session_id String,
    hash       FixedString(32),
    body       String CODEC(ZSTD(1))
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/step_contents', '{replica}')
ORDER BY (project, session_id, hash)
SETTINGS index_granularity = 1024, min_bytes_for_wide_part = 268435456,
         fsync_after_insert = 1, fsync_part_directory = 1;

ALTER TABLE steps ON CLUSTER `flightlog` ADD COLUMN IF NOT EXISTS message_refs Array(FixedString(32)) AFTER prompt_messages;

ALTER TABLE steps ON CLUSTER `flightlog` ADD COLUMN IF NOT EXISTS attribute_refs Map(String, Array(FixedString(32))) AFTER message_refs;

ALTER TABLE steps ON CLUSTER `flightlog` ADD COLUMN IF NOT EXISTS text_refs Map(String, FixedString(32)) AFTER attribute_refs;

ALTER TABLE session_summaries ON CLUSTER `flightlog` ADD PROJECTION IF NOT EXISTS by_start_whole
(
    SELECT *
    ORDER BY project, first_ts
);

ALTER TABLE session_summaries ON CLUSTER `flightlog` MATERIALIZE PROJECTION by_start_whole SETTINGS mutations_sync = 0;

ALTER TABLE session_summaries ON CLUSTER `flightlog` DROP PROJECTION IF EXISTS by_start;

CREATE TABLE IF NOT EXISTS erasures ON CLUSTER `flightlog`
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/erasures', '{replica}')
ORDER BY (project, at_us)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

ALTER TABLE prices ON CLUSTER `flightlog` ADD COLUMN IF NOT EXISTS tier_cache_write Nullable(Float64) AFTER tier_cache_read;

ALTER TABLE price_overrides ON CLUSTER `flightlog` ADD COLUMN IF NOT EXISTS tier_cache_write Nullable(Float64) AFTER tier_cache_read;

CREATE TABLE IF NOT EXISTS erased_actions ON CLUSTER `flightlog`
(
    project    LowCardinality(String),
    log_index  UInt64,
    action_key UInt64,
    result     UInt64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/erased_actions', '{replica}')
ORDER BY log_index
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

ALTER TABLE writer_leases ON CLUSTER `flightlog` ADD COLUMN IF NOT EXISTS ttl_ms UInt64 DEFAULT 0;

ALTER TABLE erasures ON CLUSTER `flightlog` ADD COLUMN IF NOT EXISTS log_through Int64 DEFAULT -1;

CREATE TABLE IF NOT EXISTS erasures_finished ON CLUSTER `flightlog`
(
    project   LowCardinality(String),
    at_us     Int64,
    signature String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/erasures_finished', '{replica}')
ORDER BY (project, at_us)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
