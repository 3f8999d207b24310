-- Retention: deletes the sessions whose last event (end_ts, merged over the
-- key's partial rows) is before the ?, the cut-off. sessions has no time
-- column to partition or TTL by (its times are aggregate states), hence a
-- mutation; 18.16 and current servers run its IN subquery alike.
ALTER TABLE sessions DELETE WHERE (pixel_id, visitor_id, session_id) IN
    (SELECT pixel_id, visitor_id, session_id FROM sessions
     GROUP BY pixel_id, visitor_id, session_id HAVING maxMerge(end_ts) < ?);
