-- Time to convert: how long visitors take from their first visit to their first conversion.
--
-- The converters are the visitors whose first conversion (an event called
-- -event, Purchase unless given) is on a pixel day from -from to -to (-tz,
-- the pixel's time zone); a visitor who had converted before, up to
-- -lookback_days days before -from, is a repeat converter and not counted.
-- The time is from the visitor's first page view, searched as far as
-- -lookback_days days before -from (the conversion itself if there is
-- none before it), to that conversion, in milliseconds. One row per bucket
-- (< 1 h, 1-6 h, 6-24 h, 1-3 d, 3-7 d, 7-14 d, 14-30 d, > 30 d: each from
-- its lower bound, inclusive, to its upper bound, exclusive), empty ones
-- too: converters, their share of all converters, and the median and mean
-- time in hours (2 decimals; the median of an even number is the mean of
-- the two middle ones). The last row, Total, is over all converters.
--
-- Reads raw pixel.events. Each event once: GROUP BY (event_id, event), of a
-- browser and a server copy the server's (each column's argMax by
-- channel = 'server', which all pick the same copy), byte-identical replays
-- being one group; only the visitors with a conversion in the range are
-- read.
--
-- param pixel         String            the pixel id
-- param from          Date              first day, inclusive (YYYY-MM-DD, the pixel's day)
-- param to            Date              last day, inclusive (YYYY-MM-DD, the pixel's day)
-- param tz            String            the pixel's time zone (IANA name, e.g. Europe/Paris)
-- param bots          UInt32 = 0        1 counts bots too
-- param event         String = Purchase the conversion event
-- param lookback_days UInt32 = 90       how many days before -from a first visit (and an earlier conversion) is searched
-- bind event, pixel, event, from, lookback_days, to, bots, pixel, event, from, to, tz, from, lookback_days, to, event, event, tz, from, to
SELECT
    bucket,
    length(d) AS converters,
    if(total = 0, 0, converters / total) AS converters_share,
    if(converters = 0, 0, round((d[intDiv(converters + 1, 2)] + d[intDiv(converters + 2, 2)]) / 2 / 3600000, 2)) AS median_hours,
    if(converters = 0, 0, round(arraySum(d) / converters / 3600000, 2)) AS mean_hours
FROM
(
    SELECT
        count() AS total,
        -- The times of each bucket, sorted (for the median), then of all.
        [arraySort(groupArrayIf(took, took < 3600000)),
         arraySort(groupArrayIf(took, took >= 3600000 AND took < 21600000)),
         arraySort(groupArrayIf(took, took >= 21600000 AND took < 86400000)),
         arraySort(groupArrayIf(took, took >= 86400000 AND took < 259200000)),
         arraySort(groupArrayIf(took, took >= 259200000 AND took < 604800000)),
         arraySort(groupArrayIf(took, took >= 604800000 AND took < 1209600000)),
         arraySort(groupArrayIf(took, took >= 1209600000 AND took < 2592000000)),
         arraySort(groupArrayIf(took, took >= 2592000000)),
         arraySort(groupArray(took))] AS ds
    FROM
    (
        SELECT
            minIf(ms, event = ?) AS conv,
            -- The first page view, or the conversion if it came first:
            -- these are the only events read.
            min(ms) AS seen,
            conv - seen AS took
        FROM
        (
            SELECT event_id, event, argMax(visitor_id, channel = 'server') AS vid, argMax(ts_ms, channel = 'server') AS ms,
                argMax(ts, channel = 'server') AS sec
            FROM events
            WHERE pixel_id = ? AND event IN (?, 'PageView')
              AND toDate(ts) BETWEEN toDate(?) - ? - 1 AND toDate(?) + 1 AND (? = 1 OR is_bot = 0)
              -- Only the visitors who converted in the range (and some who
              -- did not: a day more each side).
              AND visitor_id IN (SELECT visitor_id FROM events WHERE pixel_id = ? AND event = ?
                  AND toDate(ts) BETWEEN toDate(?) - 1 AND toDate(?) + 1)
            GROUP BY event_id, event
        )
        WHERE toDate(sec, ?) BETWEEN toDate(?) - ? AND toDate(?)
        GROUP BY vid
        HAVING countIf(event = ?) > 0 AND toDate(minIf(sec, event = ?), ?) BETWEEN toDate(?) AND toDate(?)
    )
)
ARRAY JOIN ds AS d, ['< 1 h', '1-6 h', '6-24 h', '1-3 d', '3-7 d', '7-14 d', '14-30 d', '> 30 d', 'Total'] AS bucket;
