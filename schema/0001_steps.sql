-- Every step an agent reported, one row each, never updated in place.
--
-- ORDER BY (project, session_id, step) makes "one session in step order" a
-- primary-key range read, and the idempotency check a point lookup.
-- "All sessions in a time range" prunes by the minmax index on ts.
--
-- No PARTITION BY, on purpose: an INSERT into a partitioned table writes one
-- part per partition, and a crash between them would leave half of a group
-- commit stored. Unpartitioned, each group commit is one part, written to a
-- temporary directory and renamed: all of it lands or none of it does, which
-- the per-session hash chain relies on.
--
-- fsync_after_insert / fsync_part_directory: an INSERT returns only once the
-- new part and its directory entry are on disk, so an acknowledged step
-- survives kill -9 and a power cut. Group commit amortises the fsyncs.
-- index_granularity 2048 (not 8192): timeline pages read 100-1000 rows of
-- wide text columns, so smaller granules mean less data decompressed.
-- min_bytes_for_wide_part 256 MiB: a group commit writes a compact part (a
-- handful of files) instead of a wide one (two files per column, each
-- fsynced); merges still produce wide parts once they are big.
-- ZSTD(1) on text: measured faster to write than ZSTD(3) at this insert
-- rate, and still compresses agent text several-fold.
CREATE TABLE IF NOT EXISTS steps
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
    -- model_name reduced to the price list's key (flightlog-model pricing).
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

    -- The step as received, in canonical JSON: unknown fields are never lost.
    raw                String CODEC(ZSTD(1)),
    failed             Bool,
    -- The step hash over its field hashes (see flightlog-model integrity).
    -- Equal hash = identical re-send (a no-op); a different hash for the
    -- same (project, session_id, step) = a rejected conflict. It is also
    -- the step's leaf in the Merkle log.
    step_hash          FixedString(32),
    -- Field path -> field hash, for fields whose content was erased (GDPR):
    -- the step hash is recomputed with these in place of the content.
    erased             Map(String, FixedString(32)),
    -- The session's hash chain, in order of acceptance: session_seq counts
    -- 0, 1, 2... per session, chain_hash = SHA-256(previous link || step_hash).
    session_seq        UInt64,
    chain_hash         FixedString(32),
    -- Position in the log of acceptance (the Merkle log's leaf order),
    -- assigned by the single writer.
    log_index          UInt64,
    received_at        DateTime64(6, 'UTC'),

    INDEX ts_range ts TYPE minmax GRANULARITY 1
)
ENGINE = MergeTree
ORDER BY (project, session_id, step)
SETTINGS index_granularity = 2048, min_bytes_for_wide_part = 268435456,
         fsync_after_insert = 1, fsync_part_directory = 1;
