-- The sessions of some visitors in the sessions rollup (one per key, however many
-- partial rows it has), before an erasure deletes them. The ? is the array of
-- visitor ids.
SELECT count() FROM (SELECT 1 FROM sessions WHERE has(?, visitor_id) GROUP BY pixel_id, visitor_id, session_id);
