-- One API token in its newest version; the ? is its id.
SELECT id, `user`, label, secret_sha256, revoked, created_at, version
FROM api_tokens FINAL
WHERE id = ?;
