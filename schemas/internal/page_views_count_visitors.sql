-- The page views of some visitors in the page_views rollup (one per key, however many
-- partial rows it has), before an erasure deletes them. The ? is the array of
-- visitor ids.
SELECT count() FROM (SELECT 1 FROM page_views WHERE has(?, visitor_id) GROUP BY pixel_id, visitor_id, session_id, page_view_id);
