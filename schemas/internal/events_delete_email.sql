-- Erasure of the events carrying one email (see events_delete_visitor.sql): its
-- Meta-normalised hash (email_sha256), then its Google-normalised one
-- (email_google_sha256).
ALTER TABLE events DELETE WHERE email_sha256 = ? OR email_google_sha256 = ?;
