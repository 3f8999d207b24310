-- Erasure of one visitor's events: a mutation (ClickHouse 1.1.54388 and later,
-- so 18.16 too) that rewrites the parts holding them, in the background;
-- pkg/privacy waits for it in system.mutations. The ? is the visitor id.
ALTER TABLE events DELETE WHERE visitor_id = ?;
