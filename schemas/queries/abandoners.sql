-- Abandoners: visitors who did one thing (an add to cart) and not the next (a purchase) within N days, per day.
--
-- For each pixel day from -from to -to (-tz, the pixel's time zone) on which
-- visitors did -did (AddToCart unless given): visitors is how many did, and
-- abandoners how many of them did not do -not (Purchase unless given) at or
-- after their first -did of that day and at most -days days after it (by
-- ts_ms); abandoned_rate is abandoners / visitors. The -not events are read
-- up to -days days after -to, so the last days' rates fall as late
-- conversions arrive. Days without a -did have no row. The last row, Total,
-- counts each visitor once, from their first -did in the range.
--
-- Reads raw pixel.events. Each event once: GROUP BY (event_id, event), of a
-- browser and a server copy the server's (each column's argMax by
-- channel = 'server', which all pick the same copy), byte-identical replays
-- being one group.
--
-- param pixel String             the pixel id
-- param from  Date               first day, inclusive (YYYY-MM-DD, the pixel's day)
-- param to    Date               last day, inclusive (YYYY-MM-DD, the pixel's day)
-- param tz    String             the pixel's time zone (IANA name, e.g. Europe/Paris)
-- param bots  UInt32 = 0         1 counts bots too
-- param did   String = AddToCart what the visitors did
-- param not   String = Purchase  what the abandoners did not do after it
-- param days  UInt32 = 7         within how many days after -did a -not counts
-- bind days, tz, did, tz, from, to, not, pixel, did, not, from, to, days, bots
SELECT
    r.1 AS day,
    count() AS visitors,
    countIf(NOT arrayExists(y -> y >= r.2 AND y - r.2 <= toUInt64(?) * 86400000, ys)) AS abandoners,
    abandoners / visitors AS abandoned_rate
FROM
(
    SELECT
        ys,
        -- The first -did of each day (xs is in time order, so a day's first
        -- is the one whose predecessor is on another day), then the first
        -- of all for the total.
        arrayFilter((x, prev) -> x.2 != prev.2, xs, arrayPushFront(arrayPopBack(xs), tuple(toUInt64(0), toDate(0)))) AS firsts,
        arrayPushBack(arrayMap(x -> tuple(toString(x.2), x.1), firsts), tuple('Total', xs[1].1)) AS rs
    FROM
    (
        -- Per visitor: the -did of the range (ts_ms, pixel day) and every
        -- -not (ts_ms), in time order.
        SELECT
            arraySort(groupArrayIf(tuple(ms, toDate(sec, ?)), event = ? AND toDate(sec, ?) BETWEEN toDate(?) AND toDate(?))) AS xs,
            arraySort(groupArrayIf(ms, event = ?)) AS ys
        FROM
        (
            SELECT event_id, event, argMax(visitor_id, channel = 'server') AS vid, argMax(ts_ms, channel = 'server') AS ms,
                argMax(ts, channel = 'server') AS sec
            FROM events
            WHERE pixel_id = ? AND event IN (?, ?)
              AND toDate(ts) BETWEEN toDate(?) - 1 AND toDate(?) + ? + 1 AND (? = 1 OR is_bot = 0)
            GROUP BY event_id, event
        )
        GROUP BY vid
        HAVING length(xs) > 0
    )
)
ARRAY JOIN rs AS r
GROUP BY day
ORDER BY day = 'Total', day;
