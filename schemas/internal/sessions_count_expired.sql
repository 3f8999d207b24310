-- Retention: the sessions whose last event (end_ts) is before the ?, the
-- cut-off. A session is kept whole while any of its events is newer.
SELECT count() FROM (SELECT 1 FROM sessions GROUP BY pixel_id, visitor_id, session_id HAVING maxMerge(end_ts) < ?);
