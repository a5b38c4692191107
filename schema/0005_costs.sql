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
