-- Retention: the profiles whose last event (last_seen) is before the ?, the
-- cut-off.
SELECT count() FROM (SELECT 1 FROM visitors GROUP BY pixel_id, visitor_id HAVING maxMerge(last_seen) < ?);
