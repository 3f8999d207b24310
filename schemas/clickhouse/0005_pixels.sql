-- pixel.pixels: the registry, one row per version of a pixel (pkg/registry).
-- Every change inserts the whole pixel again with a higher version; the
-- ReplacingMergeTree keeps the highest version of each pixel_id on merge, and
-- every read uses FINAL, so that the newest version wins before a merge too.
-- Runs on ClickHouse 18.16 and current.
--
-- secret_sha256 is the hex SHA-256 of the server-API secret: the secret
-- itself is printed once by pixelctl pixel create / rotate-secret and never
-- stored. link_key is the hex HMAC key of signed click links (GET /r).
-- consent_mode, ip_mode, gpc_mode and dnt_mode hold pixel.Settings' names
-- (granted|required, keep|truncate|drop, drop|flag).
CREATE TABLE IF NOT EXISTS pixels
(
    pixel_id           String,
    name               String,
    domains            Array(String),
    status             String,
    secret_sha256      String,
    link_key           String,
    time_zone          String,
    engagement_seconds UInt32,
    consent_mode       String,
    ip_mode            String,
    gpc_mode           String,
    dnt_mode           String,
    created_at         DateTime,
    updated_at         DateTime,
    version            UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY pixel_id;
