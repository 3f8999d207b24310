-- One pixel in its newest version; the ? is its id.
SELECT pixel_id, name, domains, status, secret_sha256, link_key, time_zone, engagement_seconds, consent_mode, ip_mode, gpc_mode, dnt_mode, created_at, updated_at, version
FROM pixels FINAL
WHERE pixel_id = ?;
