-- pixel.sessions: one row per (pixel, visitor, session) once merged,
-- maintained on insert into events by sessions_mv. Runs on ClickHouse 18.16
-- and current. How to query it: schemas/README.md. Events without a session
-- id (visitors without consent, whose visitor_id is the day's cookieless id)
-- form one session per visitor_id.
--
-- Every state is idempotent in the copies of an event (min, max, argMin,
-- argMax, uniqExact, distinct tuples), so a replayed or copied row changes
-- nothing:
--   start_ts, end_ts  the first and last event's time;
--   pages             distinct page_view_id;
--   landing_url, landing_source, landing_medium, landing_campaign
--                     the first event's (by ts_ms) url, utm_source,
--                     utm_medium and utm_campaign: the session's campaign as
--                     GA4 scopes it (one argMin of a String each: 18.16
--                     merges a tuple's argMin through a slow generic path);
--   landing_ids       the first event's (referrer_host, utm_term,
--                     utm_content, gclid, gbraid, wbraid, fbclid, msclkid,
--                     ttclid);
--   goals             the distinct (event, event_id, server copy, ts, value,
--                     currency) of every event but PageView, the
--                     PageEngagement heartbeats and the tag's Engaged goal
--                     (one per page view over a minute: two thirds of the
--                     rest on the generated data set, and page_views holds
--                     engaged time): a report keeps one per event_id, the
--                     server's, so conversions of any other event name and
--                     their revenue per currency come from here;
--   converted         1 when the session has a Purchase, or an event with a
--                     value > 0 other than the funnel steps that carry the
--                     product's price (ViewContent, AddToCart, AddToWishlist,
--                     InitiateCheckout, AddPaymentInfo): a Lead or Subscribe
--                     with a value counts;
--   is_bot            any event flagged a bot;
--   consent           the latest non-empty consent.
-- Engaged time is in pixel.page_views, not here: the sum over page views of
-- their largest engaged_ms needs a per-page maximum (maxMap), which 18.16
-- lacks; page_views holds it, one row per page view.
CREATE TABLE IF NOT EXISTS sessions
(
    pixel_id         String,
    visitor_id       String,
    session_id       String,
    start_ts         AggregateFunction(min, DateTime),
    end_ts           AggregateFunction(max, DateTime),
    pages            AggregateFunction(uniqExactArray, Array(String)),
    landing_url      AggregateFunction(argMin, String, UInt64),
    landing_source   AggregateFunction(argMin, String, UInt64),
    landing_medium   AggregateFunction(argMin, String, UInt64),
    landing_campaign AggregateFunction(argMin, String, UInt64),
    landing_ids      AggregateFunction(argMin, Tuple(String, String, String, String, String, String, String, String, String), UInt64),
    goals            AggregateFunction(groupUniqArrayArray, Array(Tuple(String, String, UInt8, DateTime, Float64, String))),
    converted        AggregateFunction(max, UInt8),
    is_bot           AggregateFunction(max, UInt8),
    consent          AggregateFunction(argMax, String, UInt64)
)
ENGINE = AggregatingMergeTree()
ORDER BY (pixel_id, visitor_id, session_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_mv TO sessions AS
SELECT
    pixel_id,
    visitor_id,
    session_id,
    minState(ts) AS start_ts,
    maxState(ts) AS end_ts,
    uniqExactArrayState(arraySlice([page_view_id], 1, page_view_id != '')) AS pages,
    argMinState(url, ts_ms) AS landing_url,
    argMinState(utm_source, ts_ms) AS landing_source,
    argMinState(utm_medium, ts_ms) AS landing_medium,
    argMinState(utm_campaign, ts_ms) AS landing_campaign,
    argMinState(tuple(referrer_host, utm_term, utm_content, gclid, gbraid, wbraid, fbclid, msclkid, ttclid), ts_ms) AS landing_ids,
    groupUniqArrayArrayState(arraySlice([tuple(event, event_id, toUInt8(channel = 'server'), ts, value, currency)], 1, event NOT IN ('PageView', 'PageEngagement', 'Engaged'))) AS goals,
    maxState(toUInt8(event = 'Purchase' OR (value > 0 AND event NOT IN ('ViewContent', 'AddToCart', 'AddToWishlist', 'InitiateCheckout', 'AddPaymentInfo')))) AS converted,
    maxState(is_bot) AS is_bot,
    argMaxState(consent, if(consent = '', toUInt64(0), ts_ms)) AS consent
FROM events
GROUP BY pixel_id, visitor_id, session_id;

-- The backfill of the events stored before the view existed; see
-- 0008_daily_stats.sql for why running it after the view is exact.
INSERT INTO sessions (pixel_id, visitor_id, session_id, start_ts, end_ts, pages, landing_url, landing_source, landing_medium, landing_campaign, landing_ids, goals, converted, is_bot, consent)
SELECT
    pixel_id,
    visitor_id,
    session_id,
    minState(ts) AS start_ts,
    maxState(ts) AS end_ts,
    uniqExactArrayState(arraySlice([page_view_id], 1, page_view_id != '')) AS pages,
    argMinState(url, ts_ms) AS landing_url,
    argMinState(utm_source, ts_ms) AS landing_source,
    argMinState(utm_medium, ts_ms) AS landing_medium,
    argMinState(utm_campaign, ts_ms) AS landing_campaign,
    argMinState(tuple(referrer_host, utm_term, utm_content, gclid, gbraid, wbraid, fbclid, msclkid, ttclid), ts_ms) AS landing_ids,
    groupUniqArrayArrayState(arraySlice([tuple(event, event_id, toUInt8(channel = 'server'), ts, value, currency)], 1, event NOT IN ('PageView', 'PageEngagement', 'Engaged'))) AS goals,
    maxState(toUInt8(event = 'Purchase' OR (value > 0 AND event NOT IN ('ViewContent', 'AddToCart', 'AddToWishlist', 'InitiateCheckout', 'AddPaymentInfo')))) AS converted,
    maxState(is_bot) AS is_bot,
    argMaxState(consent, if(consent = '', toUInt64(0), ts_ms)) AS consent
FROM events
GROUP BY pixel_id, visitor_id, session_id;
