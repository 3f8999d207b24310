-- Attribution: conversions and revenue credited to each campaign, by first touch, last touch, linear or position-based.
--
-- A conversion is an event called -event (Purchase unless given) on a pixel
-- day from -from to -to (-tz, the pixel's time zone). Its touches are the
-- visitor's page views that carry a campaign (utm_source, utm_medium or
-- utm_campaign) at or before it and at most -lookback_days days before it,
-- before -from too. Each conversion gives one credit to its touches, by
-- -model: first (all to the earliest touch), last (all to the latest),
-- linear (equal shares), position (40% to the first, 40% to the last, 20%
-- spread over the ones between; one touch gets all, two get half each). A
-- conversion without a touch is credited to (direct) / (none) / (none).
-- conversions is the credit received (fractional, to 6 decimals), revenue the credited
-- share of the conversions' value, both per currency of the conversion:
-- money is never added across currencies. The last rows, source Total, are
-- the totals per currency (every conversion once).
--
-- Reads raw pixel.events. Each event once: GROUP BY (event_id, event), of a
-- browser and a server copy the server's (each column's argMax by
-- channel = 'server', which all pick the same copy), byte-identical replays
-- being one group; only the visitors with a conversion in the range are
-- read. An unknown -model fails the query (throwIf).
--
-- param pixel         String            the pixel id
-- param from          Date              first day, inclusive (YYYY-MM-DD, the pixel's day)
-- param to            Date              last day, inclusive (YYYY-MM-DD, the pixel's day)
-- param tz            String            the pixel's time zone (IANA name, e.g. Europe/Paris)
-- param bots          UInt32 = 0        1 counts bots too
-- param event         String = Purchase the conversion event
-- param model         String(first|last|linear|position) = last  the attribution model
-- param lookback_days UInt32 = 30       most days from a touch to the conversion it gets credit for
-- bind model, model, model, lookback_days, event, tz, from, to, pixel, event, from, lookback_days, to, bots, pixel, event, from, to, model
SELECT
    if(total, 'Total', touch.2) AS source,
    if(total, '', touch.3) AS medium,
    if(total, '', touch.4) AS campaign,
    conv.4 AS currency,
    round(sum(credit), 6) AS conversions,
    round(sum(credit * conv.3), 2) AS revenue
FROM
(
    SELECT
        conv,
        touch,
        -- i is the touch's place among the n touches of the conversion.
        multiIf(? = 'first', toFloat64(i = 1),
                ? = 'last', toFloat64(i = n),
                ? = 'linear', 1 / n,
                n = 1, 1,
                n = 2, 0.5,
                i = 1 OR i = n, 0.4,
                0.2 / (n - 2)) AS credit
    FROM
    (
        SELECT
            conv,
            -- The conversion's touches, else the one direct "touch".
            arrayFilter(x -> x.1 <= conv.1 AND conv.1 - x.1 <= toUInt64(?) * 86400000, touches) AS f,
            if(length(f) = 0, [tuple(conv.1, '(direct)', '(none)', '(none)')], f) AS g,
            length(g) AS n
        FROM
        (
            -- Per visitor: the touches in time order (ts_ms, source,
            -- medium, campaign) and the conversions (ts_ms, ts, value,
            -- currency).
            SELECT
                arraySort(groupArrayIf(tuple(ms, src, med, camp),
                    event = 'PageView' AND (src != '' OR med != '' OR camp != ''))) AS touches,
                groupArrayIf(tuple(ms, sec, val, cur),
                    event = ? AND toDate(sec, ?) BETWEEN toDate(?) AND toDate(?)) AS convs
            FROM
            (
                SELECT event_id, event,
                    argMax(visitor_id, channel = 'server') AS vid, argMax(ts_ms, channel = 'server') AS ms,
                    argMax(ts, channel = 'server') AS sec, argMax(value, channel = 'server') AS val,
                    argMax(currency, channel = 'server') AS cur, argMax(utm_source, channel = 'server') AS src,
                    argMax(utm_medium, channel = 'server') AS med, argMax(utm_campaign, channel = 'server') AS camp
                FROM events
                WHERE pixel_id = ? AND event IN (?, 'PageView')
                  AND toDate(ts) BETWEEN toDate(?) - ? - 1 AND toDate(?) + 1 AND (? = 1 OR is_bot = 0)
                  -- Only the visitors who converted in the range (and
                  -- some who did not: a day more each side).
                  AND visitor_id IN (SELECT visitor_id FROM events WHERE pixel_id = ? AND event = ?
                      AND toDate(ts) BETWEEN toDate(?) - 1 AND toDate(?) + 1)
                GROUP BY event_id, event
            )
            GROUP BY vid
            HAVING length(convs) > 0
        )
        ARRAY JOIN convs AS conv
    )
    ARRAY JOIN g AS touch, arrayEnumerate(g) AS i
    WHERE credit > 0 AND NOT throwIf(? NOT IN ('first', 'last', 'linear', 'position'))
)
ARRAY JOIN [0, 1] AS total
GROUP BY total, source, medium, campaign, currency
ORDER BY total, conversions DESC, source, medium, campaign, currency;
