-- Web UI sign-ins. The cookie holds a random 256-bit token; only its
-- SHA-256 is stored, so reading this table never yields a usable cookie.
-- A sign-out inserts a newer version of the row with revoked_at set; reads
-- use FINAL. Rows are dropped by TTL a day after they expire.
CREATE TABLE IF NOT EXISTS web_sessions
(
    token_hash FixedString(32),
    key_id     String,
    project    LowCardinality(String),
    created_at DateTime64(3, 'UTC'),
    expires_at DateTime64(3, 'UTC'),
    revoked_at Nullable(DateTime64(3, 'UTC')),
    version    UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY token_hash
TTL toDateTime(expires_at) + INTERVAL 1 DAY
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;
