-- Cost per acquisition (and return on ad spend) by campaign: what each campaign's conversions cost.
--
-- One row per campaign and currency, for the campaigns with ad spend in the
-- range (pixel.ad_spend FINAL, imported by pixelctl spend import; its
-- date is the ad platform's day): cost, conversions, cpa = cost /
-- conversions, revenue, roas = revenue / cost, clicks and impressions,
-- the highest cost first (the highest roas first with order roas: the roas
-- report), then a Total row per currency. Money is never
-- added across currencies: spend in EUR meets only conversions in EUR. A
-- campaign whose spend is in EUR but whose conversions are (some or all) in
-- USD has an EUR row with the cost and the EUR conversions and a USD row
-- with the USD conversions and no cost. cpa is empty (NULL) where a row has
-- no conversions or no cost, roas where it has no cost.
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
-- param order   String(cost|roas) = cost  cost: the costliest campaign first; roas: the best return first
-- bind from, to, account, account, pixel, event, from, to, tz, from, to, bots, pixel, from, to, from, to, account, account, order
SELECT
    c AS campaign,
    cur AS currency,
    round(micros / 1000000, 2) AS cost,
    n AS conversions,
    if(n = 0 OR micros = 0, NULL, round(micros / 1000000 / n, 2)) AS cpa,
    round(rev, 2) AS revenue,
    if(micros = 0, NULL, round(rev / (micros / 1000000), 2)) AS roas,
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
        ) AS conversions
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
        ) AS landings
        USING (visitor, session)
        WHERE campaign_key IN
        (
            SELECT utm_campaign FROM ad_spend FINAL
            WHERE date BETWEEN toDate(?) AND toDate(?) AND (? = '*' OR account = ?)
        )
    )
    GROUP BY c, cur
)
ORDER BY c = 'Total', if(? = 'roas', ifNull(roas, -1), cost) DESC, cost DESC, campaign, currency;
