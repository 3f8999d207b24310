-- Erasure of some visitors from the visitors rollup: a mutation, as for events
-- (events_delete_visitor.sql), waited for by pkg/privacy. Every partial row of
-- their keys goes, so nothing of them is left to merge. The ? is the array of
-- visitor ids.
ALTER TABLE visitors DELETE WHERE has(?, visitor_id);
