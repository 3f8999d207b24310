-- The record of applied migrations (pixelctl migrate).
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime
)
ENGINE = MergeTree()
ORDER BY version;
