-- The funnel PageView → AddToCart → Purchase per pixel: visitors at each step.
--
-- Among the events of the date range, viewed counts the visitors with a
-- PageView, added_to_cart those of them who then added to the cart, and
-- purchased those who after that purchased: in this order, each step within
-- -window seconds of the visitor's first PageView (ClickHouse's
-- windowFunnel). A visitor counts once per pixel, at the furthest step
-- reached; every event counts once (by event_id and event name; of a browser
-- and a server copy, the server's).
--
-- param from   Date            first day, inclusive (YYYY-MM-DD)
-- param to     Date            last day, inclusive (YYYY-MM-DD)
-- param window UInt32 = 604800 most seconds from the first step to the last (7 days)
-- bind window, from, to
SELECT
    pixel_id,
    countIf(step >= 1) AS viewed,
    countIf(step >= 2) AS added_to_cart,
    countIf(step >= 3) AS purchased
FROM
(
    SELECT
        pixel_id,
        visitor_id,
        windowFunnel(?)(ts, event = 'PageView', event = 'AddToCart', event = 'Purchase') AS step
    FROM
    (
        SELECT event_id, pixel_id, visitor_id, event, ts
        FROM events
        WHERE event IN ('PageView', 'AddToCart', 'Purchase') AND toDate(ts) BETWEEN toDate(?) AND toDate(?)
        ORDER BY channel = 'server' DESC
        LIMIT 1 BY event_id, event
    )
    GROUP BY pixel_id, visitor_id
)
GROUP BY pixel_id
HAVING viewed > 0
ORDER BY pixel_id;
