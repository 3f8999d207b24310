-- pixel.events: one row per accepted hit; column names equal the wire format's
-- field names (schemas/event-format.md). Runs on ClickHouse 18.16 and current.
--
-- ReplacingMergeTree: a Kafka replay re-inserts byte-identical rows, which share
-- the partition and the whole sorting key and so collapse into one on merge.
-- Queries that must be exact de-duplicate by event_id (see schemas/queries/).
--
-- Partitioned by the server's receive month, never by client time, so that a
-- wrong client clock cannot create partitions. The sorting key serves the
-- conversion queries (one pixel, some events, a date range) and the
-- retargeting ones (per visitor within that range).
CREATE TABLE IF NOT EXISTS events
(
    event_id    String,
    pixel_id    String,
    visitor_id  String,
    session_id  String,
    event       String,
    ts          DateTime,
    received_at DateTime,
    url         String,
    referrer    String,
    value       Float64,
    currency    String,
    order_id    String,
    content_ids Array(String),
    ip          String,
    user_agent  String,
    props       String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(received_at)
ORDER BY (pixel_id, event, toDate(ts), visitor_id, event_id);
