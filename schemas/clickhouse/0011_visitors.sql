-- pixel.visitors: the visitor profile audiences read, one row per (pixel,
-- visitor) once merged, maintained on insert into events by visitors_mv.
-- Runs on ClickHouse 18.16 and current. How to query it: schemas/README.md.
--
-- Every state is idempotent in the copies of an event, so a replayed or
-- copied row changes nothing:
--   first_seen, last_seen  the first and last event's time;
--   sessions               distinct session_id ('' is one: a visitor without
--                          consent has no session id and a new visitor_id,
--                          the cookieless id, every day);
--   viewed, purchased      distinct content_ids of ViewContent, of Purchase;
--   purchases              distinct (event_id, server copy, value, currency)
--                          of the Purchase events: a report keeps one per
--                          event_id, the server's, for the count and the
--                          revenue per currency;
--   last_campaign          (utm_source, utm_medium, utm_campaign) of the
--                          latest event that had a campaign;
--   email_sha256 ... external_id  the latest non-empty value (argMax by
--                          ts_ms with weight 0 for an empty one: '' only when
--                          the visitor never had one);
--   consent                the latest (consent, ad_storage,
--                          analytics_storage, ad_user_data,
--                          ad_personalization) of an event with consent set;
--   gpc, is_bot            any event with the flag.
-- Engaged time is in pixel.page_views (sum of the page views' maxima per
-- visitor): see 0009_sessions.sql for why.
CREATE TABLE IF NOT EXISTS visitors
(
    pixel_id            String,
    visitor_id          String,
    first_seen          AggregateFunction(min, DateTime),
    last_seen           AggregateFunction(max, DateTime),
    sessions            AggregateFunction(uniqExact, String),
    viewed              AggregateFunction(groupUniqArrayArray, Array(String)),
    purchased           AggregateFunction(groupUniqArrayArray, Array(String)),
    purchases           AggregateFunction(groupUniqArrayArray, Array(Tuple(String, UInt8, Float64, String))),
    last_campaign       AggregateFunction(argMax, Tuple(String, String, String), UInt64),
    email_sha256        AggregateFunction(argMax, String, UInt64),
    email_google_sha256 AggregateFunction(argMax, String, UInt64),
    phone_sha256        AggregateFunction(argMax, String, UInt64),
    phone_google_sha256 AggregateFunction(argMax, String, UInt64),
    external_id         AggregateFunction(argMax, String, UInt64),
    consent             AggregateFunction(argMax, Tuple(String, String, String, String, String), UInt64),
    gpc                 AggregateFunction(max, UInt8),
    is_bot              AggregateFunction(max, UInt8)
)
ENGINE = AggregatingMergeTree()
ORDER BY (pixel_id, visitor_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS visitors_mv TO visitors AS
SELECT
    pixel_id,
    visitor_id,
    minState(ts) AS first_seen,
    maxState(ts) AS last_seen,
    uniqExactState(session_id) AS sessions,
    groupUniqArrayArrayState(arraySlice(content_ids, 1, (event = 'ViewContent') * length(content_ids))) AS viewed,
    groupUniqArrayArrayState(arraySlice(content_ids, 1, (event = 'Purchase') * length(content_ids))) AS purchased,
    groupUniqArrayArrayState(arraySlice([tuple(event_id, toUInt8(channel = 'server'), value, currency)], 1, event = 'Purchase')) AS purchases,
    argMaxState(tuple(utm_source, utm_medium, utm_campaign), if(utm_campaign = '', toUInt64(0), ts_ms)) AS last_campaign,
    argMaxState(email_sha256, if(email_sha256 = '', toUInt64(0), ts_ms)) AS email_sha256,
    argMaxState(email_google_sha256, if(email_google_sha256 = '', toUInt64(0), ts_ms)) AS email_google_sha256,
    argMaxState(phone_sha256, if(phone_sha256 = '', toUInt64(0), ts_ms)) AS phone_sha256,
    argMaxState(phone_google_sha256, if(phone_google_sha256 = '', toUInt64(0), ts_ms)) AS phone_google_sha256,
    argMaxState(external_id, if(external_id = '', toUInt64(0), ts_ms)) AS external_id,
    argMaxState(tuple(consent, ad_storage, analytics_storage, ad_user_data, ad_personalization), if(consent = '', toUInt64(0), ts_ms)) AS consent,
    maxState(gpc) AS gpc,
    maxState(is_bot) AS is_bot
FROM events
GROUP BY pixel_id, visitor_id;

-- The backfill of the events stored before the view existed; see
-- 0008_daily_stats.sql for why running it after the view is exact.
INSERT INTO visitors (pixel_id, visitor_id, first_seen, last_seen, sessions, viewed, purchased, purchases, last_campaign, email_sha256, email_google_sha256, phone_sha256, phone_google_sha256, external_id, consent, gpc, is_bot)
SELECT
    pixel_id,
    visitor_id,
    minState(ts) AS first_seen,
    maxState(ts) AS last_seen,
    uniqExactState(session_id) AS sessions,
    groupUniqArrayArrayState(arraySlice(content_ids, 1, (event = 'ViewContent') * length(content_ids))) AS viewed,
    groupUniqArrayArrayState(arraySlice(content_ids, 1, (event = 'Purchase') * length(content_ids))) AS purchased,
    groupUniqArrayArrayState(arraySlice([tuple(event_id, toUInt8(channel = 'server'), value, currency)], 1, event = 'Purchase')) AS purchases,
    argMaxState(tuple(utm_source, utm_medium, utm_campaign), if(utm_campaign = '', toUInt64(0), ts_ms)) AS last_campaign,
    argMaxState(email_sha256, if(email_sha256 = '', toUInt64(0), ts_ms)) AS email_sha256,
    argMaxState(email_google_sha256, if(email_google_sha256 = '', toUInt64(0), ts_ms)) AS email_google_sha256,
    argMaxState(phone_sha256, if(phone_sha256 = '', toUInt64(0), ts_ms)) AS phone_sha256,
    argMaxState(phone_google_sha256, if(phone_google_sha256 = '', toUInt64(0), ts_ms)) AS phone_google_sha256,
    argMaxState(external_id, if(external_id = '', toUInt64(0), ts_ms)) AS external_id,
    argMaxState(tuple(consent, ad_storage, analytics_storage, ad_user_data, ad_personalization), if(consent = '', toUInt64(0), ts_ms)) AS consent,
    maxState(gpc) AS gpc,
    maxState(is_bot) AS is_bot
FROM events
GROUP BY pixel_id, visitor_id;
