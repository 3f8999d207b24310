-- Erasure of some visitors from the page_views rollup: a mutation, as for events
-- (events_delete_visitor.sql), waited for by pkg/privacy. Every partial row of
-- their keys goes, so nothing of them is left to merge. The ? is the array of
-- visitor ids.
ALTER TABLE page_views DELETE WHERE has(?, visitor_id);
