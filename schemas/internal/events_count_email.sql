-- Rows carrying one email, before an erasure deletes them: its Meta-normalised
-- hash (email_sha256), then its Google-normalised one (email_google_sha256).
SELECT count() FROM events WHERE email_sha256 = ? OR email_google_sha256 = ?;
