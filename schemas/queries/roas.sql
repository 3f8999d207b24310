-- Return on ad spend by campaign: the revenue each campaign's cost brought.
--
-- One row per campaign and currency, for the campaigns with ad spend in the
-- range (pixel.ad_spend FINAL, imported by pixelctl spend import; its
-- date is the ad platform's day): cost, revenue, roas = revenue / cost,
-- conversions, cpa = cost / conversions, clicks and impressions, the highest
-- roas first, then a Total row per currency. The same figures as the cpa
-- report, ordered by return. Money is never added across currencies: spend
-- in EUR meets only revenue in EUR. A campaign whose spend is in EUR but
-- whose conversions are (some or all) in USD has an EUR row with the cost
-- and the EUR revenue and a USD row with the USD revenue and no cost: its
-- roas is empty (NULL) there; cpa is empty where a row has no cost or no
-- conversions.
--
-- A conversion is an event named by the event parameter (Purchase unless
-- given) on the pixel's days from to to (in its time zone tz), read from
-- raw pixel.events, each event once:
-- GROUP BY event_id, event, the server's copy winning for value and
-- currency. It belongs to the campaign its session landed from: the
-- utm_campaign of the earliest event of the same visitor and session that
-- has one (sessions that started up to a day before -from count), in the
-- key of ad_spend.utm_campaign (lower case, runs of spaces, '_', '-' and '+'
-- one '_'). Conversions without a session (visitors without consent) or
-- whose session came from no campaign with spend are not in this report
-- (see the conversions report). ad_spend has no pixel: a campaign's whole
-- spend meets the pixel's conversions; the account parameter limits the
-- spend to one ad account (the account column of the import) when several
-- shops share campaign names. Bots' conversions count when bots is 1
-- (pixelctl report -include-bots).
--
-- param pixel   String            the pixel's id
-- param from    Date              first day, inclusive (YYYY-MM-DD, the pixel's day)
-- param to      Date              last day, inclusive (YYYY-MM-DD, the pixel's day)
-- param tz      String            the pixel's time zone (IANA name)
-- param bots    UInt32 = 0        1 counts bots' conversions too
-- param event   String = Purchase the conversion event
-- param account String = *        the ad account whose spend counts (* for every account)
-- bind from, to, account, account, pixel, event, from, to, tz, from, to, bots, pixel, from, to, from, to, account, account
SELECT
    c AS campaign,
    cur AS currency,
    round(micros / 1000000, 2) AS cost,
    round(rev, 2) AS revenue,
    if(micros = 0, NULL, round(rev / (micros / 1000000), 2)) AS roas,
    n AS conversions,
    if(n = 0 OR micros = 0, NULL, round(micros / 1000000 / n, 2)) AS cpa,
    n_clicks AS clicks,
    n_impressions AS impressions
FROM
(
    SELECT
        arrayJoin([campaign_key, 'Total']) AS c,
        cur,
        sum(spent) AS micros,
        sum(converted) AS n,
        sum(value_of) AS rev,
        sum(clicked) AS n_clicks,
        sum(seen) AS n_impressions
    FROM
    (
        SELECT utm_campaign AS campaign_key, currency AS cur, cost_micros AS spent, toUInt64(0) AS converted,
            toFloat64(0) AS value_of, clicks AS clicked, impressions AS seen
        FROM ad_spend FINAL
        WHERE date BETWEEN toDate(?) AND toDate(?) AND (? = '*' OR account = ?) AND utm_campaign != ''

        UNION ALL

        SELECT campaign_key, t.2, toInt64(0), toUInt64(1), t.1, toUInt64(0), toUInt64(0)
        FROM
        (
            -- Each conversion once; the visitor and session of any copy
            -- that has them (a server copy may lack them).
            SELECT max(visitor_id) AS visitor, max(session_id) AS session, argMax(tuple(value, currency), channel = 'server') AS t
            FROM events
            WHERE pixel_id = ? AND event = ?
              AND toDate(ts) BETWEEN toDate(?) - 1 AND toDate(?) + 1
              AND toDate(ts, ?) BETWEEN toDate(?) AND toDate(?)
              AND (? = 1 OR is_bot = 0)
            GROUP BY event_id, event
        )
        ANY INNER JOIN
        (
            -- Each session's landing campaign, in ad_spend's key.
            SELECT
                visitor_id AS visitor,
                session_id AS session,
                argMin(replaceRegexpAll(replaceRegexpAll(lower(utm_campaign), '[\\s_+-]+', '_'), '^_|_$', ''), ts) AS campaign_key
            FROM events
            WHERE pixel_id = ? AND session_id != '' AND utm_campaign != ''
              AND toDate(ts) BETWEEN toDate(?) - 2 AND toDate(?) + 1
            GROUP BY visitor_id, session_id
        )
        USING (visitor, session)
        WHERE campaign_key IN
        (
            SELECT utm_campaign FROM ad_spend FINAL
            WHERE date BETWEEN toDate(?) AND toDate(?) AND (? = '*' OR account = ?)
        )
    )
    GROUP BY c, cur
)
ORDER BY c = 'Total', roas DESC, cost DESC, campaign, currency;
