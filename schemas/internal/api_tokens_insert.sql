-- One version of an API token (pkg/users); values arrive through the driver's batch.
INSERT INTO api_tokens (id, `user`, label, secret_sha256, revoked, created_at, version);
