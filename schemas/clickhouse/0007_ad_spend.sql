-- pixel.ad_spend: what the ad platforms charged, one row per platform,
-- account, campaign and day, imported from their CSV exports by
-- pixelctl spend import (pkg/spend). Runs on ClickHouse 18.16 and current.
--
-- Re-importing is idempotent. Each import writes its rows with version = the
-- import's time in nanoseconds; the ReplacingMergeTree keeps, for each
-- (platform, account, campaign, date), the row of the highest version on
-- merge, and every read uses FINAL so that it does so before a merge too.
-- So the same file imported twice leaves the same rows, and a later export
-- of an overlapping range (a day's cost Google corrected afterwards, a
-- longer range) replaces the days it covers: the newest import of a day is
-- its truth. Rows of one file that share a key (an export segmented by
-- network or placement) are summed by the importer before they are written,
-- so that no segment replaces another. A plain MergeTree would double the
-- spend on every re-import; a CollapsingMergeTree would need the previous
-- rows to cancel them; insert deduplication (0003) only catches a byte-equal
-- block, not the same file exported again with another column order.
--
-- cost_micros is the cost in millionths of the currency (as the Google Ads
-- API's cost_micros): exact, where Float64 sums are not; cost is the same in
-- units, for people. currency is the ISO 4217 code of the row: accounts in
-- different currencies are never summed together (CPA and ROAS group by it).
--
-- campaign is the name as the platform shows it; utm_campaign is its join key
-- with pixel.events' utm_campaign: ASCII letters lower-cased, every run of
-- white space, '_', '-' and '+' one '_', none at either end; other
-- characters are kept ("Black Friday - 2026" and black-friday-2026 are both
-- black_friday_2026). The same rule in ClickHouse SQL, for the events' side:
--   replaceRegexpAll(replaceRegexpAll(lower(utm_campaign), '[\\s_+-]+', '_'), '^_|_$', '')
-- campaign_id is the platform's campaign id when the export has it (Google
-- Ads' {campaignid} ValueTrack parameter puts it into landing pages), else ''.
--
-- source_sha256 is the hex SHA-256 of the imported file, source_line the
-- file's line of the row (the first, when rows were summed), imported_at when.
CREATE TABLE IF NOT EXISTS ad_spend
(
    date          Date,
    platform      String,
    account       String,
    campaign      String,
    campaign_id   String,
    utm_campaign  String,
    currency      String,
    cost_micros   Int64,
    cost          Float64 ALIAS cost_micros / 1000000,
    clicks        UInt64,
    impressions   UInt64,
    source_sha256 String,
    source_line   UInt32,
    imported_at   DateTime,
    version       UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(date)
ORDER BY (platform, account, campaign, date);
