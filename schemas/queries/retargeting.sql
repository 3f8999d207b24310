-- A retargeting audience of one pixel: viewed content, did not buy.
--
-- The visitors who viewed content (a ViewContent event with content_ids) in
-- the date range and did not purchase within -days days after their last
-- such view. One row per visitor: the time of that view and every content id
-- they viewed in the range, for product ads. A view less than -days ago may
-- still convert: end the range -days before today for a settled audience.
-- Every event counts once (by event_id and
-- event name; of a browser and a server copy, the server's).
--
-- param pixel String     the pixel's id
-- param from  Date       first day of the views, inclusive (YYYY-MM-DD)
-- param to    Date       last day of the views, inclusive (YYYY-MM-DD)
-- param days  UInt32 = 7 days after the last view in which a purchase leaves the audience
-- bind to, pixel, from, to, days, days
SELECT
    visitor_id,
    last_view,
    arraySort(viewed) AS content_ids
FROM
(
    SELECT
        visitor_id,
        maxIf(ts, is_view) AS last_view,
        groupUniqArrayArrayIf(content_ids, is_view) AS viewed,
        groupArrayIf(ts, event = 'Purchase') AS purchases
    FROM
    (
        SELECT
            event_id,
            visitor_id,
            event,
            ts,
            content_ids,
            event = 'ViewContent' AND notEmpty(content_ids) AND toDate(ts) <= toDate(?) AS is_view
        FROM events
        WHERE pixel_id = ? AND event IN ('ViewContent', 'Purchase')
          AND toDate(ts) >= toDate(?) AND toDate(ts) <= toDate(?) + ?
        ORDER BY channel = 'server' DESC
        LIMIT 1 BY event_id, event
    )
    GROUP BY visitor_id
    HAVING countIf(is_view) > 0
)
WHERE NOT arrayExists(t -> t >= last_view AND t <= last_view + ? * 86400, purchases)
ORDER BY visitor_id;
