-- pixel.erasures: the audit of erasure requests (pixelctl forget, pkg/privacy).
-- One row per request once its deletion finished: when it was asked and when
-- it was done, which key (key_kind visitor_id or email_sha256, key the visitor
-- id or the email's hex SHA-256: never a raw address), how many rows of events
-- matched before the deletion, and who asked. Runs on ClickHouse 18.16 and
-- current.
CREATE TABLE IF NOT EXISTS erasures
(
    requested_at DateTime,
    finished_at  DateTime,
    key_kind     String,
    key          String,
    rows_before  UInt64,
    requested_by String
)
ENGINE = MergeTree()
ORDER BY requested_at;
