-- pixel.page_views: one row per page view (page_view_id) once merged, with
-- its visitor and session, maintained on insert into events by
-- page_views_mv. Runs on ClickHouse 18.16 and current. How to query it:
-- schemas/README.md.
--
-- A PageView without a page_view_id (the pixel GIF, a <noscript> image, a
-- server-side PageView) is a page view of its own, keyed by its event_id, so
-- that pages counts the visits of sites without the JS tag too. Inside the
-- expression whose alias is page_view_id the column is events.page_view_id
-- (18.16 calls an alias that names its own column cyclic); elsewhere, the
-- WHERE included, page_view_id is that alias, on 18.16 as on current
-- ClickHouse: '' for an event of no page view.
--
-- engaged_ms is the largest engaged_ms of the page view's events: the tag's
-- heartbeats carry the page's cumulative engaged time and its last report
-- when the page is left, so the maximum is the page's engaged time, the last
-- page of a visit included. A session's or visitor's engaged time is the sum
-- of its page views' maxima (maxMerge per page view, then sum). All states
-- (min, argMin, max) are idempotent in the copies of an event.
--   start_ts  the page view's first event;
--   url       the url of its first event (by ts_ms), query string included;
--   is_bot    any event flagged a bot.
CREATE TABLE IF NOT EXISTS page_views
(
    pixel_id     String,
    visitor_id   String,
    session_id   String,
    page_view_id String,
    start_ts     AggregateFunction(min, DateTime),
    url          AggregateFunction(argMin, String, UInt64),
    engaged_ms   AggregateFunction(max, UInt32),
    is_bot       AggregateFunction(max, UInt8)
)
ENGINE = AggregatingMergeTree()
ORDER BY (pixel_id, visitor_id, session_id, page_view_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS page_views_mv TO page_views AS
SELECT
    pixel_id,
    visitor_id,
    session_id,
    if(empty(events.page_view_id), if(event = 'PageView', event_id, ''), events.page_view_id) AS page_view_id,
    minState(ts) AS start_ts,
    argMinState(url, ts_ms) AS url,
    maxState(engaged_ms) AS engaged_ms,
    maxState(is_bot) AS is_bot
FROM events
WHERE page_view_id != ''
GROUP BY pixel_id, visitor_id, session_id, page_view_id;

-- The backfill of the events stored before the view existed; see
-- 0008_daily_stats.sql for why running it after the view is exact.
INSERT INTO page_views (pixel_id, visitor_id, session_id, page_view_id, start_ts, url, engaged_ms, is_bot)
SELECT
    pixel_id,
    visitor_id,
    session_id,
    if(empty(events.page_view_id), if(event = 'PageView', event_id, ''), events.page_view_id) AS page_view_id,
    minState(ts) AS start_ts,
    argMinState(url, ts_ms) AS url,
    maxState(engaged_ms) AS engaged_ms,
    maxState(is_bot) AS is_bot
FROM events
WHERE page_view_id != ''
GROUP BY pixel_id, visitor_id, session_id, page_view_id;
