-- Funnel: how many visitors go through the steps in order, and where they drop out.
--
-- One row per step given (-param steps=ViewContent,AddToCart,Purchase: up to
-- 8 event names, comma-separated; the default is PageView, ViewContent,
-- AddToCart, InitiateCheckout, Purchase): the visitors who did that step
-- after every step before it, in order, each step within -window seconds of
-- the visitor's first step (ClickHouse's windowFunnel, at second
-- precision). visitors_share is of the first step's visitors; dropped and
-- dropped_rate are the visitors of the previous step who did not reach this
-- one. The whole chain lies in the range: events of the pixel's days from
-- -from to -to (-tz, the pixel's time zone), so a purchase the day after -to
-- does not count. A visitor counts once, at the furthest step reached.
--
-- Reads raw pixel.events. Each event once: GROUP BY (event_id, event), of a
-- browser and a server copy the server's (each column's argMax by
-- channel = 'server', which all pick the same copy), byte-identical replays
-- being one group.
--
-- param pixel  String            the pixel id
-- param from   Date              first day, inclusive (YYYY-MM-DD, the pixel's day)
-- param to     Date              last day, inclusive (YYYY-MM-DD, the pixel's day)
-- param tz     String            the pixel's time zone (IANA name, e.g. Europe/Paris)
-- param bots   UInt32 = 0        1 counts bots too
-- param window UInt32 = 604800   most seconds from a visitor's first step to the last (7 days)
-- param steps  Array(String)[8] = PageView,ViewContent,AddToCart,InitiateCheckout,Purchase the steps: event names, comma-separated
-- bind steps, steps, window, pixel, steps, from, to, bots, tz, from, to
SELECT
    toString(n) AS step,
    steps[n] AS event,
    counts[n] AS visitors,
    if(counts[1] = 0, 0, counts[n] / counts[1]) AS visitors_share,
    if(n = 1, 0, counts[n - 1] - counts[n]) AS dropped,
    if(n = 1 OR counts[n - 1] = 0, 0, (counts[n - 1] - counts[n]) / counts[n - 1]) AS dropped_rate
FROM
(
    SELECT
        -- The steps given, in order: steps[k] is '' past the last, which no
        -- event is called.
        ? AS steps,
        [countIf(level >= 1), countIf(level >= 2), countIf(level >= 3), countIf(level >= 4),
         countIf(level >= 5), countIf(level >= 6), countIf(level >= 7), countIf(level >= 8)] AS counts
    FROM
    (
        SELECT
            ? AS steps,
            windowFunnel(?)(sec, event = steps[1], event = steps[2], event = steps[3], event = steps[4],
                                 event = steps[5], event = steps[6], event = steps[7], event = steps[8]) AS level
        FROM
        (
            SELECT event_id, event, argMax(visitor_id, channel = 'server') AS vid, argMax(ts, channel = 'server') AS sec
            FROM events
            WHERE pixel_id = ? AND event IN (SELECT arrayJoin(?))
              AND toDate(ts) BETWEEN toDate(?) - 1 AND toDate(?) + 1 AND (? = 1 OR is_bot = 0)
            GROUP BY event_id, event
        )
        WHERE toDate(sec, ?) BETWEEN toDate(?) AND toDate(?)
        GROUP BY vid
    )
)
ARRAY JOIN arrayEnumerate(steps) AS n
ORDER BY n;
