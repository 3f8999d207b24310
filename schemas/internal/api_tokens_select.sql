-- Every API token in its newest version, revoked ones included.
SELECT id, `user`, label, secret_sha256, revoked, created_at, version
FROM api_tokens FINAL
ORDER BY `user`, created_at, id;
