-- Rows of one visitor, before an erasure deletes them; the ? is the visitor id.
SELECT count() FROM events WHERE visitor_id = ?;
