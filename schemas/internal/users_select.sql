-- Every account in its newest version (FINAL: before a merge, the table may
-- hold older versions too).
SELECT name, role, password_hash, disabled, created_at, updated_at, version
FROM users FINAL
ORDER BY name;
