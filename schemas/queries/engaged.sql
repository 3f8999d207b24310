-- Visitors of one pixel who stayed over a minute, with their engaged sessions.
--
-- A session counts when its first and last event lie at least -min_seconds
-- apart, or when it holds an Engaged event (the JS tag's engagement goal) for
-- at least that long: its "seconds" property, a number or a numeric string,
-- is -min_seconds or more, or it has none. Events without a session id
-- count only through Engaged events. Sessions are cut at the edges of the
-- date range. One row per visitor: how many sessions counted and the longest
-- of them in seconds. Every event counts once (by event_id and
-- event name; of a browser and a server copy, the server's).
--
-- param pixel       String      the pixel's id
-- param from        Date        first day, inclusive (YYYY-MM-DD)
-- param to          Date        last day, inclusive (YYYY-MM-DD)
-- param min_seconds UInt32 = 60 how long a visit must last
-- bind min_seconds, pixel, from, to, min_seconds
SELECT
    visitor_id,
    count() AS engaged_sessions,
    max(seconds) AS longest_seconds
FROM
(
    SELECT
        visitor_id,
        session_id,
        if(session_id = '', 0, toInt64(max(ts)) - toInt64(min(ts))) AS seconds,
        countIf(event = 'Engaged' AND (NOT visitParamHas(props, 'seconds')
            OR greatest(visitParamExtractFloat(props, 'seconds'),
                        toFloat64OrZero(visitParamExtractString(props, 'seconds'))) >= ?)) AS goals
    FROM
    (
        SELECT event_id, visitor_id, session_id, event, ts, props
        FROM events
        WHERE pixel_id = ? AND toDate(ts) BETWEEN toDate(?) AND toDate(?)
        ORDER BY channel = 'server' DESC
        LIMIT 1 BY event_id, event
    )
    GROUP BY visitor_id, session_id
    HAVING seconds >= ? OR goals > 0
)
GROUP BY visitor_id
ORDER BY visitor_id;
