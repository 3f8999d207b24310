-- The click conversions of one pixel for pixelctl export google-conversions:
-- each event once (GROUP BY event_id, event: schemas/README.md, "Each event
-- once") of the named events, on the days from..to in the pixel's time
-- zone, that carries a click id (gclid, wbraid or gbraid) in any copy, with
-- what the consent gate (pkg/gate) and googleads.NewConversion read.
--
-- Of a browser and a server copy, the server's time, value, currency, order
-- id and identifiers win (its backend is authoritative); a click id or an
-- identifier only one copy has is taken from it. The gate's signals are the
-- strictest of the copies: a denied consent column, gpc or is_bot in any
-- copy holds for the event (the server's copy never carries the browser's
-- Sec-GPC). erased is 1 when pixel.erasures names the visitor id or the
-- email_sha256 of any copy (pixelctl forget). Rows come in time order.
--
-- The ? are: the pixel id; from and to (YYYY-MM-DD) for the sorting key's
-- UTC day (one day of slack each side); the pixel's IANA time zone, from
-- and to again for its days; the event names (Array(String)).
SELECT
    event_id, event,
    t.1, t.2, t.3, t.4, t.5, t.6,
    click_gclid, click_wbraid, click_gbraid, click_ms,
    id_email_google, id_phone_google,
    sig_consent, sig_ad_storage, sig_ad_user_data, sig_ad_personalization,
    sig_gpc, sig_bot, erased
FROM
(
    SELECT
        event_id, event,
        argMax(tuple(ts, ts_ms, value, currency, order_id, visitor_id), channel = 'server') AS t,
        argMax(gclid, gclid != '') AS click_gclid,
        argMax(wbraid, wbraid != '') AS click_wbraid,
        argMax(gbraid, gbraid != '') AS click_gbraid,
        argMax(click_ts_ms, click_ts_ms != 0) AS click_ms,
        argMax(email_google_sha256, (email_google_sha256 != '') * 2 + (channel = 'server')) AS id_email_google,
        argMax(phone_google_sha256, (phone_google_sha256 != '') * 2 + (channel = 'server')) AS id_phone_google,
        argMax(consent, (consent = 'denied') * 2 + (channel = 'server')) AS sig_consent,
        argMax(ad_storage, (ad_storage = 'denied') * 2 + (channel = 'server')) AS sig_ad_storage,
        argMax(ad_user_data, (ad_user_data = 'denied') * 2 + (channel = 'server')) AS sig_ad_user_data,
        argMax(ad_personalization, (ad_personalization = 'denied') * 2 + (channel = 'server')) AS sig_ad_personalization,
        max(gpc) AS sig_gpc,
        max(is_bot) AS sig_bot,
        max(visitor_id IN (SELECT key FROM erasures WHERE key_kind = 'visitor_id')
            OR email_sha256 IN (SELECT key FROM erasures WHERE key_kind = 'email_sha256')) AS erased
    FROM events
    WHERE pixel_id = ?
        AND toDate(ts) BETWEEN toDate(?) - 1 AND toDate(?) + 1
        AND toDate(ts, ?) BETWEEN toDate(?) AND toDate(?)
        AND has(?, event)
    GROUP BY event_id, event
    HAVING click_gclid != '' OR click_wbraid != '' OR click_gbraid != ''
)
ORDER BY t.1, event_id;
