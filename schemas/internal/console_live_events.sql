-- The console's live events: a pixel's (first ?) newest events received
-- since the second ? (now minus the live window) and after the cursor
-- (received_at, event_id: the third to fifth ?), newest first, at most the
-- last ? rows. pixel_id leads the sorting key and received_at is the
-- partition key, so the read stays small however big the table grows.
SELECT event_id, event, ts, received_at, url, referrer, utm_campaign, utm_source, utm_medium,
       value, currency, consent, gpc, dnt, is_bot, channel, props, user_agent
FROM events
WHERE pixel_id = ? AND received_at >= ? AND (received_at > ? OR (received_at = ? AND event_id > ?))
ORDER BY received_at DESC, event_id DESC
LIMIT ?;
