-- pixel.destinations: where a pixel's conversions are forwarded (Meta's
-- Conversions API, Google Ads, a webhook), one row per version of a
-- destination (pkg/destination). As pixel.pixels (0005): every change inserts
-- the whole destination again with a higher version; the ReplacingMergeTree
-- keeps the highest version of each destination_id on merge, and every read
-- uses FINAL, so that the newest version wins before a merge too.
-- Runs on ClickHouse 18.16 and current.
--
-- status is active, disabled, or deleted: deleting writes a version with
-- status deleted and no credentials, which the Store never returns.
-- settings is the JSON of the kind's settings (destination.Meta, Google or
-- Webhook); it holds no secret. sealed holds the credentials sealed with the
-- destination key (AES-256-GCM, "v1:" + base64url(nonce || ciphertext), the
-- destination_id as associated data), or "" when there are none: someone who
-- can read this table without the key file, a viewer or an analyst, cannot
-- read them.
CREATE TABLE IF NOT EXISTS destinations
(
    destination_id String,
    pixel_id       String,
    name           String,
    kind           String,
    status         String,
    events         Array(String),
    min_value      Float64,
    settings       String,
    sealed         String,
    created_at     DateTime,
    updated_at     DateTime,
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY destination_id;
