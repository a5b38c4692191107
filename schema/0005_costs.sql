-- Model prices, USD per 1M tokens, from schema/prices.csv (loaded at every
-- start-up, so a corrected price list reaches all past steps: costs are
-- computed at query time, never stored). A price applies from
-- effective_from until the model's next row. Above tier_threshold input
-- tokens in one call (when > 0) the tier_* prices apply. An empty
-- reasoning price means reasoning tokens are billed as the output tokens
-- they are part of.
CREATE TABLE IF NOT EXISTS prices
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
ENGINE = MergeTree
ORDER BY (model_key, effective_from);

-- A project's own prices (negotiated rates, a model missing from the list),
-- from effective_from on; they take precedence over the list, for past
-- steps too (costs are computed at query time). Same units and meaning as
-- prices; a later row for the same model supersedes an earlier one.
CREATE TABLE IF NOT EXISTS price_overrides
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
ENGINE = MergeTree
ORDER BY (project, model_key, effective_from)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
