-- One version of a pixel (pkg/registry); values arrive through the driver's batch.
INSERT INTO pixels (pixel_id, name, domains, status, secret_sha256, link_key, time_zone, engagement_seconds, consent_mode, ip_mode, gpc_mode, dnt_mode, created_at, updated_at, version);
