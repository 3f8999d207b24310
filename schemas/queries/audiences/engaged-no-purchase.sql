-- Retarget: visitors engaged at least `seconds` in one session, no purchase.
--
-- A session's engaged time is the sum over its page views of each page
-- view's largest engaged_ms (the tag's heartbeats carry the cumulative time,
-- so the last page counts); a session also counts when it holds an Engaged
-- event (the tag's engagement goal) whose "seconds" property is -seconds or
-- more, or has none. Members engaged so in the last -days days up to -to
-- (1 to 180, like Meta's website audiences) and made no Purchase in them.
-- engaged_seconds is their longest session's engaged time.
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
-- time zone (-tz). Every event counts once, and of a browser and a server
-- copy the server's wins: a browser event is read only when no server copy
-- of it (same event_id and event) is stored, and replays, identical rows,
-- change no maximum and no "none" (no GROUP BY of every event by its id:
-- heartbeats are most of a window's events).
--
-- param pixel    String        the pixel's id
-- param to       Date          last day of the window, inclusive (YYYY-MM-DD, in the pixel's time zone)
-- param days     UInt32 = 30   the window's length in days (1 to 180)
-- param tz       String        the pixel's IANA time zone (pixelctl takes it from the registry)
-- param gpc_mode String = drop the pixel's GPC setting (pixelctl takes it from the registry): drop honours GPC
-- param seconds  UInt32 = 60   engaged time a session needs, in seconds
-- bind seconds, pixel, to, days, to, tz, to, days, to, pixel, to, days, to, seconds, gpc_mode, pixel, pixel
SELECT
    visitor_id,
    engaged_seconds,
    last_email AS email_sha256,
    last_email_google AS email_google_sha256,
    last_phone AS phone_sha256,
    last_phone_google AS phone_google_sha256,
    last_external_id AS external_id,
    exclusion AS excluded
FROM
(
    SELECT
        visitor_id,
        intDiv(max(session_ms), 1000) AS engaged_seconds
    FROM
    (
        SELECT
            visitor_id,
            session_id,
            sumIf(page_ms, page_view_id != '') AS session_ms,
            sum(goals) AS session_goals,
            sum(buys) AS session_buys
        FROM
        (
            SELECT
                visitor_id,
                session_id,
                page_view_id,
                max(engaged_ms) AS page_ms,
                countIf(event = 'Engaged' AND (NOT visitParamHas(props, 'seconds')
                    OR greatest(visitParamExtractFloat(props, 'seconds'),
                                toFloat64OrZero(visitParamExtractString(props, 'seconds'))) >= ?)) AS goals,
                countIf(event = 'Purchase') AS buys
            -- Each event once without grouping every event of the window by
            -- its id (heartbeats are most of them): replays are identical
            -- rows, which change neither a maximum nor whether a count is
            -- 0, and of a browser and a server copy only the server's is
            -- read (argMax by channel = 'server' would pick it): a browser
            -- event counts unless a server copy with its (event_id, event)
            -- is stored in the same days. The day bounds one wider than the
            -- window keep the sorting key's toDate(ts) (the server's days)
            -- useful.
            FROM events
            WHERE pixel_id = ? AND toDate(ts) BETWEEN toDate(?) - ? AND toDate(?) + 1
              AND toDate(ts, ?) BETWEEN toDate(?) - ? + 1 AND toDate(?)
              AND (channel = 'server' OR (event_id, event) NOT IN
                  (SELECT event_id, event FROM events
                   WHERE pixel_id = ? AND channel = 'server' AND toDate(ts) BETWEEN toDate(?) - ? AND toDate(?) + 1))
            GROUP BY visitor_id, session_id, page_view_id
        )
        GROUP BY visitor_id, session_id
    )
    GROUP BY visitor_id
    HAVING sum(session_buys) = 0
       AND (max(session_ms) >= ? * 1000 OR sum(session_goals) > 0)
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
