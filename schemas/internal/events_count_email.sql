-- Rows of one email's person, before an erasure deletes them: the events
-- carrying its Meta-normalised hash (email_sha256) or its Google-normalised
-- one (email_google_sha256), and every event of the visitor ids that carried
-- either (visitors_of_email.sql; an array, empty when there are none).
SELECT count() FROM events WHERE email_sha256 = ? OR email_google_sha256 = ? OR has(CAST(? AS Array(String)), visitor_id);
