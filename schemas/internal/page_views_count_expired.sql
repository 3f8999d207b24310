-- Retention: the page views that started (start_ts) before the ?, the cut-off.
SELECT count() FROM (SELECT 1 FROM page_views GROUP BY pixel_id, visitor_id, session_id, page_view_id HAVING minMerge(start_ts) < ?);
