-- Erasure of one email's person (see events_delete_visitor.sql): the events
-- carrying its Meta-normalised hash (email_sha256) or its Google-normalised
-- one (email_google_sha256), and every event of the visitor ids that carried
-- either (an array, empty when there are none), so that events and the
-- rollups, which are erased by those visitor ids, stay consistent.
ALTER TABLE events DELETE WHERE email_sha256 = ? OR email_google_sha256 = ? OR has(CAST(? AS Array(String)), visitor_id);
