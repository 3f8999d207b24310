-- Engaged visits per day: sessions and visitors with engaged time over the goal (seconds, 60 unless given), and the engaged-visit rate.
--
-- A session's engaged time is the sum over its page views of their largest
-- engaged_ms: the tag's heartbeats carry each page's cumulative engaged time
-- and its last report when the page is left, so the last page of a visit
-- counts. A session is engaged when that sum is over -seconds (60 unless
-- given), a visitor when one of their sessions is. One row per day of the
-- session's first page view in the pixel's time zone: sessions with page
-- views, engaged_sessions, engaged_rate = engaged_sessions / sessions,
-- visitors and engaged_visitors; the last row, 'Total', is the whole range
-- (each visitor once). Sessions are (visitor_id, session_id): a visitor
-- without consent has a new cookieless visitor_id every day and no session
-- id, so each of their days is one session.
--
-- Reads pixel.page_views, one row per page view whose engaged time is a
-- maximum: copies of a heartbeat (replays) change no maximum, so nothing is
-- counted twice (schemas/README.md, "Each event once"). Bots are left out
-- unless -bots 1.
--
-- param pixel   String      the pixel's id
-- param from    Date        first day, inclusive (YYYY-MM-DD, the pixel's time zone)
-- param to      Date        last day, inclusive
-- param tz      String      the pixel's IANA time zone, e.g. Europe/Paris
-- param bots    UInt32 = 0  1 = include bots
-- param seconds UInt32 = 60 engaged time a visit must be over, in seconds
-- bind seconds, tz, pixel, tz, from, to, bots
SELECT
    g AS day,
    count() AS sessions,
    countIf(engaged) AS engaged_sessions,
    engaged_sessions / sessions AS engaged_rate,
    uniqExact(visitor_id) AS visitors,
    uniqExactIf(visitor_id, engaged) AS engaged_visitors
FROM
(
    SELECT visitor_id, sum(pv_ms) > ? * 1000 AS engaged, toString(toDate(min(pv_start), ?)) AS d
    FROM
    (
        -- FINAL merges the rows of each page view as the background merges
        -- would, in key order, so each row is one page view: cheaper than
        -- a GROUP BY of every page view.
        SELECT
            visitor_id,
            session_id,
            finalizeAggregation(engaged_ms) AS pv_ms,
            finalizeAggregation(start_ts) AS pv_start,
            finalizeAggregation(is_bot) AS pv_bot
        FROM page_views FINAL
        WHERE pixel_id = ?
    )
    GROUP BY visitor_id, session_id
    HAVING toDate(min(pv_start), ?) BETWEEN toDate(?) AND toDate(?) AND (? = 1 OR max(pv_bot) = 0)
)
ARRAY JOIN [d, 'Total'] AS g
GROUP BY g
ORDER BY g = 'Total', g;
