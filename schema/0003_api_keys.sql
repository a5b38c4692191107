-- API keys, stored as SHA-256 of the secret (keys are 192-bit random
-- tokens, so a fast hash is enough; nothing here can be brute-forced).
-- A revocation inserts a newer version of the row; reads use FINAL.
CREATE TABLE IF NOT EXISTS api_keys
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
ENGINE = ReplacingMergeTree(version)
ORDER BY key_id
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
