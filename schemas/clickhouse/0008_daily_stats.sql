-- pixel.daily_stats: the events of every pixel in 15-minute UTC buckets, per
-- event name, bot flag, utm_source/utm_medium/utm_campaign (the event's own)
-- and currency, maintained on insert into events by daily_stats_mv. Runs on
-- ClickHouse 18.16 and current. How to query it: schemas/README.md.
--
-- Every state is idempotent in the copies of an event, so a replayed or
-- copied row changes nothing and no de-duplication is needed before it:
--   events   uniqExact of event_id: a replay's copy or a browser and server
--            copy of one event add the same id;
--   visitors uniqExact of visitor_id;
--   revenue  the distinct (event_id, server copy, value) of the events with
--            a value; a report keeps one per event_id, the server's (sort
--            descending, first per id), and sums those.
-- PageEngagement heartbeats are left out: they are the tag's engaged-time
-- counters, not things a visitor did, and most of all events; engaged time
-- lives in pixel.page_views. Buckets are UTC instants (every time zone's
-- offset is a multiple of 15 minutes), so toDate(bucket, tz) gives any
-- pixel's days.
CREATE TABLE IF NOT EXISTS daily_stats
(
    pixel_id     String,
    bucket       DateTime,
    event        String,
    is_bot       UInt8,
    utm_source   String,
    utm_medium   String,
    utm_campaign String,
    currency     String,
    events       AggregateFunction(uniqExact, String),
    visitors     AggregateFunction(uniqExact, String),
    revenue      AggregateFunction(groupUniqArrayArray, Array(Tuple(String, UInt8, Float64)))
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(bucket)
ORDER BY (pixel_id, event, bucket, is_bot, utm_source, utm_medium, utm_campaign, currency);

-- The view sees every block inserted into events from its creation on.
CREATE MATERIALIZED VIEW IF NOT EXISTS daily_stats_mv TO daily_stats AS
SELECT
    pixel_id,
    toStartOfFifteenMinutes(ts) AS bucket,
    event,
    is_bot,
    utm_source,
    utm_medium,
    utm_campaign,
    currency,
    uniqExactState(event_id) AS events,
    uniqExactState(visitor_id) AS visitors,
    groupUniqArrayArrayState(arraySlice([tuple(event_id, toUInt8(channel = 'server'), value)], 1, value != 0)) AS revenue
FROM events
WHERE event != 'PageEngagement'
GROUP BY pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency;

-- The backfill: the events stored before the view existed. It runs after
-- the view was created, so an event inserted meanwhile is seen by the view,
-- the backfill or both, and both add nothing a state does not already hold.
-- Re-running it (a migration that died half-way) is as harmless.
INSERT INTO daily_stats (pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency, events, visitors, revenue)
SELECT
    pixel_id,
    toStartOfFifteenMinutes(ts) AS bucket,
    event,
    is_bot,
    utm_source,
    utm_medium,
    utm_campaign,
    currency,
    uniqExactState(event_id) AS events,
    uniqExactState(visitor_id) AS visitors,
    groupUniqArrayArrayState(arraySlice([tuple(event_id, toUInt8(channel = 'server'), value)], 1, value != 0)) AS revenue
FROM events
WHERE event != 'PageEngagement'
GROUP BY pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency;
