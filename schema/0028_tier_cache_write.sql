-- Long-context cache writes have their own price (Anthropic's 1M-token
-- context bills a cache write over 200k input tokens at $7.50 per 1M for
-- claude-sonnet-4, twice the base $3.75): the tiers gain it, beside the
-- tier's input, output and cache read prices. Null: the base cache write
-- price applies above the threshold too.
ALTER TABLE prices ADD COLUMN IF NOT EXISTS tier_cache_write Nullable(Float64) AFTER tier_cache_read;
ALTER TABLE price_overrides ADD COLUMN IF NOT EXISTS tier_cache_write Nullable(Float64) AFTER tier_cache_read;
