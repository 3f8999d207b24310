-- Retention: deletes the page views that started (start_ts, merged over the
-- key's partial rows) before the ?, the cut-off; see
-- sessions_delete_expired.sql for why a mutation.
ALTER TABLE page_views DELETE WHERE (pixel_id, visitor_id, session_id, page_view_id) IN
    (SELECT pixel_id, visitor_id, session_id, page_view_id FROM page_views
     GROUP BY pixel_id, visitor_id, session_id, page_view_id HAVING minMerge(start_ts) < ?);
