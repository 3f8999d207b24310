-- Retention: deletes the profiles whose last event (last_seen, merged over
-- the key's partial rows) is before the ?, the cut-off; see
-- sessions_delete_expired.sql for why a mutation. A profile seen since keeps
-- the facts of its older events (first_seen, products, purchases, hashes):
-- its states cannot be taken apart by time.
ALTER TABLE visitors DELETE WHERE (pixel_id, visitor_id) IN
    (SELECT pixel_id, visitor_id FROM visitors
     GROUP BY pixel_id, visitor_id HAVING maxMerge(last_seen) < ?);
