-- Conversions per pixel and day: their count and revenue.
--
-- A conversion is an event called -event (Purchase unless given); revenue is
-- the sum of their value, rounded to cents (a pixel is expected to report in
-- one currency). A day is toDate(ts), the event's time in the server's time
-- zone. Every event counts once (by event_id and event name), however often
-- a replay stored it, and a browser and a server copy of one conversion count
-- once: the server's (see README, "Server-side events").
--
-- param from  Date              first day, inclusive (YYYY-MM-DD)
-- param to    Date              last day, inclusive (YYYY-MM-DD)
-- param event String = Purchase the conversion event
-- bind event, from, to
SELECT
    pixel_id,
    toDate(ts) AS day,
    count() AS conversions,
    round(sum(value), 2) AS revenue
FROM
(
    SELECT event_id, pixel_id, ts, value
    FROM events
    WHERE event = ? AND toDate(ts) BETWEEN toDate(?) AND toDate(?)
    ORDER BY channel = 'server' DESC
    LIMIT 1 BY event_id, event
)
GROUP BY pixel_id, day
ORDER BY pixel_id, day;
