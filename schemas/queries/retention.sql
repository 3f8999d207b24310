-- Retention: of the visitors first seen in a week, how many come back in each week after.
--
-- A cohort is the visitors whose first page view is on a pixel day from
-- -from to -to (-tz, the pixel's time zone), by the week it is in (weeks
-- start on Monday, in the pixel's time zone; cohort is that Monday). A
-- visitor with a page view up to -lookback_days days before -from was seen
-- before and is in no cohort (so the week of -from, unless -from is a
-- Monday, is a partial cohort). For week 0 (the cohort's week) to -weeks
-- after it, while the week starts on or before -to: visitors is how many of
-- the cohort viewed a page in that week, visitors_share their share of the
-- cohort (week 0 is all of it), cohort_visitors the cohort's size. The last
-- rows, cohort Total, are per week over the cohorts that have that week.
--
-- Reads raw pixel.events (page views). Each event once: GROUP BY (event_id,
-- event), of a browser and a server copy the server's (each column's argMax
-- by channel = 'server', which all pick the same copy), byte-identical
-- replays being one group.
--
-- param pixel         String      the pixel id
-- param from          Date        first day, inclusive (YYYY-MM-DD, the pixel's day)
-- param to            Date        last day, inclusive (YYYY-MM-DD, the pixel's day)
-- param tz            String      the pixel's time zone (IANA name, e.g. Europe/Paris)
-- param bots          UInt32 = 0  1 counts bots too
-- param weeks         UInt32 = 8  the last week after the cohort's shown
-- param lookback_days UInt32 = 30 how many days before -from a visitor counts as seen before
-- bind tz, tz, pixel, from, lookback_days, to, bots, from, lookback_days, to, from, weeks, to
SELECT
    if(total, 'Total', toString(week0)) AS cohort,
    toString(k) AS week,
    sum(active) AS visitors,
    visitors / count() AS visitors_share,
    count() AS cohort_visitors
FROM
(
    SELECT week0, k, has(active_weeks, week0 + 7 * k) AS active
    FROM
    (
        -- Per visitor of a cohort: its week and the weeks it was active.
        SELECT
            toMonday(min(day)) AS week0,
            groupUniqArray(toMonday(sec, ?)) AS active_weeks
        FROM
        (
            SELECT event_id, event, argMax(visitor_id, channel = 'server') AS vid, argMax(ts, channel = 'server') AS sec, toDate(sec, ?) AS day
            FROM events
            WHERE pixel_id = ? AND event = 'PageView'
              AND toDate(ts) BETWEEN toDate(?) - ? - 1 AND toDate(?) + 1 AND (? = 1 OR is_bot = 0)
            GROUP BY event_id, event
        )
        WHERE day BETWEEN toDate(?) - ? AND toDate(?)
        GROUP BY vid
        HAVING min(day) >= toDate(?)
    )
    ARRAY JOIN range(? + 1) AS k
    WHERE week0 + 7 * k <= toDate(?)
)
ARRAY JOIN [0, 1] AS total
GROUP BY total, cohort, k
ORDER BY total, cohort, k;
