-- Conversions per day, campaign, source or medium: count, converters, conversion rate and revenue per currency.
--
-- A conversion is an event called -event (Purchase unless given). One row
-- per group and currency of the conversions (currency '' for conversions
-- without a value; a group without conversions has one row of zeros):
-- conversions, the distinct visitors who made them (converters), the
-- group's visitors, conversion_rate = converters / visitors, and revenue,
-- the sum of their value in that currency. The last rows, with dimension
-- 'Total', are the whole range per currency.
--
-- -by day (the default) groups by the conversion's day in the pixel's time
-- zone and reads pixel.daily_stats: visitors are those with an event that
-- day (heartbeats aside). -by campaign, source or medium groups by the
-- utm_campaign, utm_source or utm_medium of the landing page of the session the
-- conversion happened in (the session's first event, as GA4 scopes a
-- session's campaign; '(none)' when it had none) and reads pixel.sessions:
-- visitors are those with a session started in the range landing from that
-- campaign, and a session counts when it started within the range (the
-- sessions rollup keeps no Engaged goals: -event Engaged works by day).
-- Other values of -by fail (throwIf).
--
-- Each event counts once however often it was stored: the rollups keep the
-- distinct event ids, and of a browser and a server copy of one conversion
-- the revenue is the server's (schemas/README.md, "Each event once"). Bots
-- are left out unless -bots 1.
--
-- param pixel String            the pixel's id
-- param from  Date              first day, inclusive (YYYY-MM-DD, the pixel's time zone)
-- param to    Date              last day, inclusive
-- param tz    String            the pixel's IANA time zone, e.g. Europe/Paris
-- param bots  UInt32 = 0        1 = include bots
-- param by    String(day|campaign|source|medium) = day  what a row is: a day, or the session's landing campaign, source or medium
-- param event String = Purchase the conversion event
-- bind tz, by, pixel, from, to, tz, from, to, bots, tz, by, pixel, event, from, to, tz, from, to, bots, by, by, event, by, pixel, tz, from, to, bots, by
SELECT dimension, currency, conversions, converters, visitors, conversion_rate, revenue
FROM
(
    SELECT
        g AS dimension,
        currency,
        conv AS conversions,
        conv_visitors AS converters,
        all_visitors AS visitors,
        if(all_visitors = 0, 0, conv_visitors / all_visitors) AS conversion_rate,
        rev AS revenue
    FROM
    (
        SELECT g, uniqExactMerge(visitors) AS all_visitors
        FROM daily_stats
        ARRAY JOIN [toString(toDate(bucket, ?)), 'Total'] AS g
        WHERE ? = 'day'
            AND pixel_id = ?
            AND toDate(bucket) BETWEEN toDate(?) - 1 AND toDate(?) + 1
            AND toDate(bucket, ?) BETWEEN toDate(?) AND toDate(?)
            AND (? = 1 OR is_bot = 0)
        GROUP BY g
    ) AS day_visitors
    ALL LEFT JOIN
    (
        SELECT
            g,
            currency,
            uniqExactMerge(events) AS conv,
            uniqExactMerge(visitors) AS conv_visitors,
            arrayReverseSort(groupUniqArrayArrayMerge(revenue)) AS copies,
            -- (event_id, server copy, value) sorted descending: the first of
            -- each event_id is its server copy when there is one.
            round(arraySum(arrayMap((x, first) -> if(first = 1, x.3, 0), copies, arrayEnumerateUniq(arrayMap(x -> x.1, copies)))), 2) AS rev
        FROM daily_stats
        ARRAY JOIN [toString(toDate(bucket, ?)), 'Total'] AS g
        WHERE ? = 'day'
            AND pixel_id = ?
            AND event = ?
            AND toDate(bucket) BETWEEN toDate(?) - 1 AND toDate(?) + 1
            AND toDate(bucket, ?) BETWEEN toDate(?) AND toDate(?)
            AND (? = 1 OR is_bot = 0)
        GROUP BY g, currency
    ) AS day_conversions USING g

    UNION ALL

    -- One pass over the sessions: each session's row once under its group
    -- and once under 'Total', then once per conversion (LEFT ARRAY JOIN
    -- keeps a session without one), counted per group and currency, and the
    -- currencies of a group gathered with its visitors.
    SELECT
        g AS dimension,
        r.1 AS currency,
        r.2 AS conversions,
        r.3 AS converters,
        all_visitors AS visitors,
        if(all_visitors = 0, 0, r.3 / all_visitors) AS conversion_rate,
        r.4 AS revenue
    FROM
    (
        SELECT
            g,
            uniqExactMerge(v) AS all_visitors,
            arrayFilter(x -> x.2 > 0, groupArray(tuple(currency, conv, conv_visitors, rev))) AS per_currency,
            if(empty(per_currency), [tuple('', toUInt64(0), toUInt64(0), toFloat64(0))], per_currency) AS currencies
        FROM
        (
            SELECT
                g,
                c.1 AS currency,
                countIf(c.2 != '') AS conv,
                uniqExactIf(visitor_id, c.2 != '') AS conv_visitors,
                round(sum(c.3), 2) AS rev,
                uniqExactState(visitor_id) AS v
            FROM
            (
                SELECT visitor_id, g, convs
                FROM
                (
                    SELECT
                        visitor_id,
                        multiIf(? = 'source', s_source, ? = 'medium', s_medium, s_campaign) AS k,
                        if(k = '', '(none)', k) AS key,
                        -- the session's distinct copies of -event, sorted
                        -- descending: the first of each event_id is its
                        -- server copy if any; (currency, event_id, value).
                        arrayReverseSort(arrayFilter(x -> x.1 = ?, s_goals)) AS copies,
                        arrayMap(x -> tuple(x.6, x.2, x.5), arrayFilter((x, first) -> first = 1, copies, arrayEnumerateUniq(arrayMap(x -> x.2, copies)))) AS convs
                    FROM
                    (
                        -- FINAL merges the rows of each session as the
                        -- background merges would, in key order, so each
                        -- row is one session: cheaper than a GROUP BY of
                        -- every session. Conditions on states stay outside
                        -- it, so that they see merged states.
                        SELECT
                            visitor_id,
                            finalizeAggregation(landing_source) AS s_source,
                            finalizeAggregation(landing_medium) AS s_medium,
                            finalizeAggregation(landing_campaign) AS s_campaign,
                            finalizeAggregation(goals) AS s_goals,
                            finalizeAggregation(start_ts) AS s_start,
                            finalizeAggregation(is_bot) AS s_bot
                        FROM sessions FINAL
                        WHERE ? != 'day' AND pixel_id = ?
                    )
                    WHERE toDate(s_start, ?) BETWEEN toDate(?) AND toDate(?) AND (? = 1 OR s_bot = 0)
                )
                ARRAY JOIN [key, 'Total'] AS g
            )
            LEFT ARRAY JOIN convs AS c
            GROUP BY g, currency
        )
        GROUP BY g
    )
    ARRAY JOIN currencies AS r
)
WHERE throwIf(? NOT IN ('day', 'campaign', 'source', 'medium')) = 0
ORDER BY dimension = 'Total', dimension, currency;
