-- Retarget: visitors who added to cart and did not buy within purchase_days days.
--
-- Members had an AddToCart event in the last -days days up to -to (1 to
-- 180, like Meta's website audiences) and no Purchase from their last add to
-- cart until -purchase_days days after it (a cart less than -purchase_days
-- old may still convert). last_cart is the time of that add to cart, in the
-- pixel's time zone.
-- Every audience returns one row per visitor: visitor_id, the columns of the
-- rule, the latest hashed identifiers (email_sha256, email_google_sha256,
-- phone_sha256, phone_google_sha256) and external_id from all of the
-- visitor's events (their profile, pixel.visitors), and excluded: consent
-- (the latest consent, ad_user_data or ad_personalization signal given is
-- denied), optout (an
-- erasure request for the visitor id or the email, pixelctl forget: events
-- that arrived after it), gpc (a request sent Sec-GPC: 1 and the pixel
-- honours GPC: -gpc_mode drop), bot, or empty. pkg/audience leaves the
-- excluded out of every export and counts them. Days are days in the pixel's
-- time zone (-tz). Every event counts once: its copies are grouped by
-- (event_id, event), and of a browser and a server copy the server's wins
-- (argMax by channel = 'server'; a GROUP BY, which can spill to disk).
--
-- param pixel    String        the pixel's id
-- param to       Date          last day of the window, inclusive (YYYY-MM-DD, in the pixel's time zone)
-- param days     UInt32 = 30   the window's length in days (1 to 180)
-- param tz       String        the pixel's IANA time zone (pixelctl takes it from the registry)
-- param gpc_mode String = drop the pixel's GPC setting (pixelctl takes it from the registry): drop honours GPC
-- param purchase_days UInt32 = 7 days after the last add to cart in which a purchase leaves the audience
-- bind tz, tz, to, days, to, pixel, to, days, to, purchase_days, purchase_days, gpc_mode, pixel, pixel
SELECT
    visitor_id,
    toString(cart_ts, ?) AS last_cart,
    last_email AS email_sha256,
    last_email_google AS email_google_sha256,
    last_phone AS phone_sha256,
    last_phone_google AS phone_google_sha256,
    last_external_id AS external_id,
    exclusion AS excluded
FROM
(
    SELECT visitor_id, cart_ts
    FROM
    (
        SELECT
            visitor_id,
            maxIf(ts, is_cart) AS cart_ts,
            groupArrayIf(ts, event = 'Purchase') AS purchases
        FROM
        (
            SELECT
                event,
                t.1 AS visitor_id,
                t.2 AS ts,
                event = 'AddToCart' AND toDate(t.2, ?) BETWEEN toDate(?) - ? + 1 AND toDate(?) AS is_cart
            FROM
            (
                -- Each event once; the day bounds one wider than the scan
                -- keep the sorting key's toDate(ts) (the server's days)
                -- useful. Purchases are read up to -purchase_days after -to.
                SELECT event, argMax(tuple(visitor_id, ts), channel = 'server') AS t
                FROM events
                WHERE pixel_id = ? AND event IN ('AddToCart', 'Purchase')
                  AND toDate(ts) BETWEEN toDate(?) - ? AND toDate(?) + ? + 1
                GROUP BY event_id, event
            )
        )
        GROUP BY visitor_id
        HAVING countIf(is_cart) > 0
    )
    WHERE NOT arrayExists(p -> p >= cart_ts AND p <= cart_ts + ? * 86400, purchases)
) AS members
ANY LEFT JOIN
(
    -- Who the visitor is and whether they may be exported, from all of their
    -- events. The latest of each identifier and the GPC and bot flags come
    -- from the visitor's profile, pixel.visitors (FINAL merges each
    -- visitor's rows while reading, finalizeAggregation reads the merged
    -- states). Consent and erasures by email come from the events, in a scan
    -- of five narrow columns: a signal's latest value is denied when its
    -- latest denial is no older than its latest grant (a grant and a denial
    -- in the same millisecond exclude), which needs each signal's own times,
    -- and an erasure request (pixel.erasures, pixelctl forget) may name any
    -- email the visitor gave, not only the latest: the profile holds
    -- neither. Copies of an event change neither a latest value nor a flag.
    SELECT
        visitor_id,
        last_email,
        last_email_google,
        last_phone,
        last_phone_google,
        last_external_id,
        multiIf(
            consent_denied = 1, 'consent',
            visitor_id GLOBAL IN (SELECT key FROM erasures WHERE key_kind = 'visitor_id') OR email_erased = 1, 'optout',
            ? = 'drop' AND gpc_flag = 1, 'gpc',
            bot_flag = 1, 'bot',
            '') AS exclusion
    FROM
    (
        SELECT
            visitor_id,
            finalizeAggregation(email_sha256) AS last_email,
            finalizeAggregation(email_google_sha256) AS last_email_google,
            finalizeAggregation(phone_sha256) AS last_phone,
            finalizeAggregation(phone_google_sha256) AS last_phone_google,
            finalizeAggregation(external_id) AS last_external_id,
            finalizeAggregation(gpc) AS gpc_flag,
            finalizeAggregation(is_bot) AS bot_flag
        FROM visitors FINAL
        WHERE pixel_id = ?
    ) AS profiles
    ANY LEFT JOIN
    (
        SELECT
            visitor_id,
            countIf(consent = 'denied') > 0
                AND maxIf(ts_ms, consent = 'denied') >= maxIf(ts_ms, consent = 'granted')
            OR countIf(ad_user_data = 'denied') > 0
                AND maxIf(ts_ms, ad_user_data = 'denied') >= maxIf(ts_ms, ad_user_data = 'granted')
            OR countIf(ad_personalization = 'denied') > 0
                AND maxIf(ts_ms, ad_personalization = 'denied') >= maxIf(ts_ms, ad_personalization = 'granted') AS consent_denied,
            max(email_sha256 GLOBAL IN (SELECT key FROM erasures WHERE key_kind = 'email_sha256')) AS email_erased
        FROM events
        WHERE pixel_id = ?
        GROUP BY visitor_id
    ) AS signals USING visitor_id
) AS identities USING visitor_id
ORDER BY visitor_id;
