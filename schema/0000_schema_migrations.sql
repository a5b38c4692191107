-- The ledger of applied migrations. Run before every start-up; the files
-- numbered 0001 and up are applied once each, in order, and recorded here.
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY version;
