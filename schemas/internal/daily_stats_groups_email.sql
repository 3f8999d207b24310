-- The daily_stats groups that hold events of one email's person (see
-- daily_stats_groups_visitors.sql): the events that events_delete_email.sql
-- deletes. The ? are the Meta hash, the Google hash and the array of visitor
-- ids seen with them.
SELECT DISTINCT concat(pixel_id, '|', toString(toUInt32(toStartOfFifteenMinutes(ts))))
FROM events
WHERE event != 'PageEngagement' AND (email_sha256 = ? OR email_google_sha256 = ? OR has(CAST(? AS Array(String)), visitor_id));
