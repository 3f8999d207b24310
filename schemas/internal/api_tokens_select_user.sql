-- One account's API tokens in their newest version; the ? is its name.
SELECT id, `user`, label, secret_sha256, revoked, created_at, version
FROM api_tokens FINAL
WHERE `user` = ?
ORDER BY created_at, id;
