-- One account in its newest version; the ? is its name.
SELECT name, role, password_hash, disabled, created_at, updated_at, version
FROM users FINAL
WHERE name = ?;
